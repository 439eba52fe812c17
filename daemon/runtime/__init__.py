"""Wiring only: settings, the event bus, the HTTP endpoints and the Daemon that starts the parts."""
