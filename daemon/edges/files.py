"""Files inside a checkout, read and written without following a symlink anywhere on the way.

A platform repo is untrusted: a symlink committed in it can point into another tenant's folder,
at a file outside the checkout, or turn a directory we write into into ``/etc``. Every path here
is opened one component at a time below a directory we hold open (``openat`` with
``O_NOFOLLOW``), so a link anywhere in it is refused with :class:`UnsafePath` instead of being
followed, and nothing can be swapped in between a check and the open.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from daemon.errors import DockyardError


class UnsafePath(DockyardError):
    """A path that leaves its root or runs through a symlink; the message names it."""


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _components(rel: str) -> list[str]:
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or any(p in ("..", ".") for p in parts):
        raise UnsafePath(f"{rel!r} is not a plain path inside the repository")
    return list(parts)


@contextlib.contextmanager
def _parent(root: Path, rel: str) -> Iterator[tuple[int, str]]:
    """The open directory holding ``rel`` below ``root`` and the last component's name."""
    *folders, name = _components(rel)
    fd = os.open(root, _DIR_FLAGS)
    try:
        walked = ""
        for folder in folders:
            walked = f"{walked}/{folder}" if walked else folder
            try:
                child = os.open(folder, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                raise UnsafePath(_why(walked, e)) from e
            os.close(fd)
            fd = child
        yield fd, name
    finally:
        os.close(fd)


def _why(rel: str, error: OSError) -> str:
    if error.errno in (errno.ELOOP, errno.ENOTDIR):
        return f"{rel} is a symlink (or not a folder); it is never followed"
    return f"cannot open {rel}: {error.strerror or error}"


def read_text(root: Path, rel: str) -> str:
    """The UTF-8 text of ``root/rel``; :class:`UnsafePath` when any part of it is a symlink."""
    with _parent(root, rel) as (fd, name):
        try:
            file = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except OSError as e:
            raise UnsafePath(_why(rel, e)) from e
        with os.fdopen(file, "rb") as handle:
            return handle.read().decode("utf-8")


def write_text(root: Path, rel: str, text: str) -> None:
    """Replaces the content of the existing file ``root/rel``, never through a symlink."""
    with _parent(root, rel) as (fd, name):
        try:
            file = os.open(name, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except OSError as e:
            raise UnsafePath(_why(rel, e)) from e
        with os.fdopen(file, "wb") as handle:
            handle.write(text.encode("utf-8"))


def symlink_on_the_way(root: Path, rel: str) -> str | None:
    """The first component of ``rel`` below ``root`` that is a symlink (repo-relative), if any."""
    walked = root
    for part in _components(rel):
        walked = walked / part
        if walked.is_symlink():
            return walked.relative_to(root).as_posix()
    return None


class FileExists(DockyardError):
    """A file that would be overwritten without being told to."""


def create_text(root: Path, rel: str, text: str, *, overwrite: bool = False) -> tuple[str, ...]:
    """Writes a new file ``root/rel`` (making its folders), never through a symlink; returns the
    folders it made (repo-relative, outermost first), for :func:`remove_written`.

    An existing file is :class:`FileExists` unless ``overwrite``; a folder on the way is made
    below the folder already held open, so a link swapped in cannot redirect the write.
    """
    *folders, name = _components(rel)
    made: list[str] = []
    fd = os.open(root, _DIR_FLAGS)
    try:
        walked = ""
        for folder in folders:
            walked = f"{walked}/{folder}" if walked else folder
            try:
                os.mkdir(folder, 0o755, dir_fd=fd)
                made.append(walked)
            except FileExistsError:
                pass
            try:
                child = os.open(folder, _DIR_FLAGS, dir_fd=fd)
            except OSError as e:
                raise UnsafePath(_why(walked, e)) from e
            os.close(fd)
            fd = child
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        flags |= os.O_TRUNC if overwrite else os.O_EXCL
        try:
            file = os.open(name, flags, 0o644, dir_fd=fd)
        except FileExistsError as e:
            raise FileExists(f"{rel} exists; pass --force to overwrite it") from e
        except OSError as e:
            raise UnsafePath(_why(rel, e)) from e
        with os.fdopen(file, "wb") as handle:
            handle.write(text.encode("utf-8"))
    finally:
        os.close(fd)
    return tuple(made)


def remove_written(root: Path, files: Iterable[str], folders: Iterable[str]) -> None:
    """Undoes :func:`create_text`: deletes ``files``, then the ``folders`` it made (innermost first)."""
    for rel in files:
        with _parent(root, rel) as (fd, name), contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=fd)
    for rel in sorted(folders, key=lambda f: -f.count("/")):
        with _parent(root, rel) as (fd, name), contextlib.suppress(OSError):
            os.rmdir(name, dir_fd=fd)
