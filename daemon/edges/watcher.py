"""Watching a local directory for changes (watchdog), debounced into one callback."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

_log = logging.getLogger(__name__)

# Reading a file raises "opened"/"closed_no_write" on inotify; LocalSource reads every file, so
# reacting to those would make each cycle trigger the next.
_IGNORED_EVENTS = frozenset({"opened", "closed_no_write"})


class _Handler(FileSystemEventHandler):
    def __init__(self, root: Path, notify: Callable[[], None]) -> None:
        self._root = root
        self._notify = notify

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in _IGNORED_EVENTS:
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        if all(not p or self._in_git_dir(os.fsdecode(p)) for p in paths):
            return
        self._notify()

    def _in_git_dir(self, path: str) -> bool:
        try:
            parts = Path(path).relative_to(self._root).parts
        except ValueError:
            return False
        return ".git" in parts


class ChangeWatcher:
    """Calls ``callback`` once per burst of file changes under ``path`` (``.git`` excluded).

    The callback runs in the watcher's own thread after ``debounce`` seconds without a change, or
    after ``max_delay`` seconds of continuous changes, so a long-running generator still gets its
    output picked up. Exceptions from the callback are logged; the watcher keeps going.
    """

    def __init__(
        self, path: Path, callback: Callable[[], None], *, debounce: float = 0.5, max_delay: float = 5.0
    ) -> None:
        self._path = Path(path).absolute()
        self._callback = callback
        self._debounce = debounce
        self._max_delay = max(max_delay, debounce)
        self._cond = threading.Condition()
        self._first_change: float | None = None
        self._last_change = 0.0
        self._stopping = False
        self._observer: BaseObserver | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        observer = Observer()
        observer.schedule(_Handler(self._path, self._changed), str(self._path), recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer
        self._thread = threading.Thread(target=self._run, name=f"dockyard-watch-{self._path.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
            self._observer = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _changed(self) -> None:
        now = time.monotonic()
        with self._cond:
            if self._first_change is None:
                self._first_change = now
            self._last_change = now
            self._cond.notify_all()

    def _run(self) -> None:
        while self._wait_for_burst():
            try:
                self._callback()
            except Exception:
                _log.exception("the change callback for %s failed", self._path)

    def _wait_for_burst(self) -> bool:
        """Blocks until a burst of changes is over; False when the watcher is stopping."""
        with self._cond:
            while self._first_change is None and not self._stopping:
                self._cond.wait()
            while not self._stopping and self._first_change is not None:
                now = time.monotonic()
                due = min(self._last_change + self._debounce, self._first_change + self._max_delay)
                if now >= due:
                    self._first_change = None
                    return True
                self._cond.wait(due - now)
            return False
