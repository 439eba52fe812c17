"""The model: frozen dataclasses of every kind, identities (ObjRef, Revision), quantities,
events, labels and audit records. Imports nothing of Dockyard but ``daemon.errors``."""
