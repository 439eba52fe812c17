"""Terminal output helpers: colour only on a TTY, never when NO_COLOR is set."""

from __future__ import annotations

import os
from typing import IO


def use_colour(stream: IO[str]) -> bool:
    if "NO_COLOR" in os.environ:
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
