"""Work done in a forked copy of the build process, beside the build's own.

The copy starts with everything the build holds (the dataset, the pages), so nothing is sent
to it; only its answer comes back, pickled through a pipe. Where ``os.fork`` is missing, or
on one core, there is no copy: ``Forked.start`` returns None and the caller does the work.
"""

from __future__ import annotations

import os
import pickle
import signal
import warnings
from collections.abc import Callable
from typing import Any


class Forked:
    """``work()`` in a forked copy of this process; ``result`` is what it returned (None when
    the copy failed or could not start). The copy only reads what this process holds."""

    def __init__(self, pid: int, reader: Any) -> None:
        self.pid = pid
        self.reader = reader

    @classmethod
    def start(cls, work: Callable[[], Any]) -> Forked | None:
        if (os.cpu_count() or 1) < 2 or not hasattr(os, "fork"):
            return None
        read_fd, write_fd = os.pipe()
        with warnings.catch_warnings():  # the build's other threads stay here; the copy touches nothing they hold
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            status = 0
            try:
                data = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write_fd, "wb") as out:
                    out.write(data)
            except BaseException:  # noqa: BLE001 - the parent sees no answer and does the work
                status = 1
            os._exit(status)
        os.close(write_fd)
        return cls(pid, os.fdopen(read_fd, "rb"))

    def kill(self) -> None:
        self.reader.close()
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except OSError:
            pass

    def result(self) -> Any:
        try:
            data = self.reader.read()
        finally:
            self.reader.close()
            _, status = os.waitpid(self.pid, 0)
        if status != 0 or not data:
            return None
        try:
            return pickle.loads(data)
        except Exception:  # noqa: BLE001 - a broken answer: the parent does the work
            return None
