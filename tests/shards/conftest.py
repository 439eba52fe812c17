"""The daemon tests' ``setup`` (a platform repo and daemons on the session's cluster), for three daemons."""

from tests.daemon.conftest import setup  # noqa: F401 - a fixture, found by name
