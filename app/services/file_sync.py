"""Making local files durable: one fsync per file, or a group's files together before its commit.

A file on local disk (the file store's, a local folder delivery's) is fsynced before the
row that records it commits. One at a time, each fsync waits for its own journal commit,
and two worker processes doing so queue behind each other: in a herd of 500 small files
(bench/herd.py) two workers without the fsyncs delivered at 226.6 files/s, with them at
136.9, while one worker did 111.2 and 108.7. A scheduled group (app.services.group_send)
therefore opens `together()`: writers note their files instead of syncing them, and
`flush()` fsyncs them all at once, in parallel threads (fsync releases the GIL, and the
file system commits the waiting files' journal entries together), before the commit that
records them.

What a file may look like after a machine crash is unchanged:
- a store file (`note`) gets its name before it is synced; until the commit records it,
  its row says claimed, and a claimed batch is built again under the same key, so nobody
  reads such a file;
- a delivered file (`replace_durably`) is synced under its temporary name and only then moved
  to the name the partner reads, as a file synced on its own is.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from contextvars import ContextVar

# Threads that fsync a group's files together (a group holds SEND_GROUP_SIZE, 20, files): with 8
# threads two processes syncing 20 files each took as long as with 4, and more CPU.
SYNC_THREADS = 4


class SyncGroup:
    """Files written while a group runs, synced (and, for deliveries, moved into place) by flush()."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self.renames: list[tuple[str, str, int]] = []  # source, target, the size written

    def note(self, path: str) -> None:
        """A file already at its name (a store file), to be synced by flush()."""
        self.files.append(path)

    def flush(self) -> None:
        """fsync every noted file, then make each noted rename; raises OSError if one fails.

        A renamed file must then hold the size written, as a transport's receipt promises
        (invariant 3); what failed stays noted, so that discard() removes what was not moved.
        """
        paths = self.files + [source for source, _, _ in self.renames]
        if len(paths) == 1:
            fsync_path(paths[0])
        elif paths:
            with ThreadPoolExecutor(min(SYNC_THREADS, len(paths))) as pool:
                list(pool.map(fsync_path, paths))  # list(): an error in any thread is raised here
        for index, (source, target, size) in enumerate(self.renames):
            try:
                os.replace(source, target)
                held = os.stat(target).st_size
            except OSError:
                self.renames = self.renames[index:]
                raise
            if held != size:
                self.renames = self.renames[index + 1 :]
                raise OSError(errno.EIO, f"the destination holds {held} bytes after the rename, not {size}")
        self.files, self.renames = [], []

    def discard(self) -> None:
        """Forget what is noted, removing temporary files that were never moved into place."""
        for source, _, _ in self.renames:
            with suppress(OSError):  # best effort: the next attempt removes a stale temporary file
                os.unlink(source)
        self.files, self.renames = [], []


_current: ContextVar[SyncGroup | None] = ContextVar("file_sync_group", default=None)


@contextmanager
def together() -> Iterator[SyncGroup]:
    """Defer the fsyncs of the files written inside to the group's flush(); unflushed renames are dropped."""
    group = SyncGroup()
    token = _current.set(group)
    try:
        yield group
    finally:
        _current.reset(token)
        group.discard()


def fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def current() -> SyncGroup | None:
    """The group whose flush() syncs the files written now, if one is open."""
    return _current.get()


def replace_durably(fd: int, source: str, target: str) -> int:
    """Move the file written to `fd` from `source` to `target` once synced: now, or at the open group's flush.

    Returns the size the target holds after the move, or, when the group moves it later, the
    size written (the group's flush then checks that the target holds it).
    """
    group = _current.get()
    if group is None:
        os.fsync(fd)
        os.replace(source, target)
        return os.stat(target).st_size
    size = os.fstat(fd).st_size
    group.renames.append((source, target, size))
    return size
