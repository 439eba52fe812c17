"""The ``dockyard`` subcommands: each parses its flags, builds settings and calls one thing."""
