"""Drops files from the page cache, as a reboot or a fresh build leaves them: the first exec of a
large binary then reads it from disk, which is when start-up races show."""

from __future__ import annotations

import os
import sys


def evict(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages cannot be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        evict(name)
