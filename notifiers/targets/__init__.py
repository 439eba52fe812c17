"""Senders: one module per kind of target. Each turns a :class:`~notifiers.targets.base.Job` into
requests to its server and maps every failure to a secret-free
:class:`~notifiers.targets.base.DeliveryError`."""
