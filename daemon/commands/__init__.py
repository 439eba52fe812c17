"""One module per ``dockyard`` subcommand; each exposes ``register(subparsers)``."""
