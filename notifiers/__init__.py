"""Delivery of Dockyard events to people: Slack, webhooks and email, through a durable outbox."""
