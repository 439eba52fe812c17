"""Delivery of Dockyard events to people: Slack, webhooks and email, through a durable outbox.

Start at :mod:`notifiers.service` (``NotificationService``, the ``EventSink`` the daemon wires in).
The modules, each with one job:

``routing``     which NotificationList targets get an event (pure)
``format``      messages with context: Block Kit, email text, robot markdown, webhook JSON (pure)
``pacing``      deduplication, repeat interval, one resolved message, per-target rate (pure)
``outbox``      SQLite store of every delivery, written before anything is sent
``dispatcher``  the delivery loop: backoff, Retry-After, dead letters
``targets``     Slack, webhooks and robots, email
``secrets``     ``secretRef`` resolution and redaction
``settings``    settings from the environment
``metrics``     Prometheus metrics on the caller's registry
"""
