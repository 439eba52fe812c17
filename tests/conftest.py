"""Shared pytest configuration. Fixtures live in ``tests/fixtures_*.py`` plugins, loaded here."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.fixtures_cluster"]


@pytest.fixture(autouse=True)
def _cli_logging_stays_in_its_test() -> Iterator[None]:
    """``dockyard`` commands run in-process install their log handler on the root logger, as the
    real command does; it must not outlive the test (threads of later tests would write to it)."""
    yield
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == "dockyard"]:
        root.removeHandler(handler)
