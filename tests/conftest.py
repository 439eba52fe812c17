"""Shared pytest configuration. Fixtures live in ``tests/fixtures_*.py`` plugins, loaded here."""

pytest_plugins = ["tests.fixtures_cluster"]
