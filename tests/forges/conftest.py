from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.forges.fakes import FakeForge, running_forge


@pytest.fixture
def forge() -> Iterator[FakeForge]:
    yield from running_forge()
