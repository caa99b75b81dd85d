"""Memory figures that mean what they say.

``getrusage().ru_maxrss`` of a process started by ``subprocess`` is not its own peak on Linux:
the kernel carries the peak of the process that forked it across ``exec`` (a companion started
by a build holding 2.7 GB reported 2.7 GB while it used 230 MB). ``peak_rss_mb`` reads the
process's own high-water mark instead, and ``TreeWatch`` samples what a whole tree of
processes holds at once (shared pages counted once): the figure that decides whether a
build fits in the machine.

``without_gc`` pauses Python's cyclic garbage collector while code makes many small acyclic
objects (the rows of a check, the figures of every community), which it would otherwise scan
again and again for nothing.
"""

from __future__ import annotations

import gc
import resource
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _status_kb(pid: int | str, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_mb() -> float:
    """This process's own peak resident memory, in MB (``VmHWM``; ``ru_maxrss`` elsewhere)."""
    kb = _status_kb("self", "VmHWM")
    if kb is None:
        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024


def _pss_kb(pid: int) -> int | None:
    """The process's proportional share of resident memory: a page shared by n processes
    (a forked worker's copy-on-write pages) counts 1/n in each, so shares add up."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _tree(pid: int) -> list[int]:
    """``pid`` and every process below it, now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (
                (entry / "stat")
                .read_text(encoding="ascii", errors="replace")
                .rsplit(")", 1)[1]
                .split()
            )
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def _tree_pss_mb(pids: list[int]) -> float:
    return sum(_pss_kb(pid) or _status_kb(pid, "VmRSS") or 0 for pid in pids) / 1024


def tree_rss_mb(pid: int) -> float:
    """Memory of ``pid`` and every process below it, now, in MB (Linux): the sum of their
    proportional shares (``_pss_kb``; resident size where that cannot be read), so pages
    forked workers share with their parent are counted once."""
    return _tree_pss_mb(_tree(pid))


class TreeWatch:
    """The largest sum of resident memory of a process tree, sampled every ``every`` seconds
    on a thread until ``stop()`` (benchmarks: ``with TreeWatch(process.pid) as watch``).

    A sample reads the proportional shares (``tree_rss_mb``) only when the processes' plain
    resident sizes add up to more than the peak so far (a share is never more than the
    resident size, so no other sample can be a new peak): the kernel walks every page of a
    process to report its share, about a quarter of a core spent beside a province build
    sampled in full, which the build's own times then carried."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        self.pid = pid
        self.every = every
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gongzhi-memory", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = _tree(self.pid)
            if sum(_status_kb(pid, "VmRSS") or 0 for pid in pids) / 1024 > self.peak_mb:
                self.peak_mb = max(self.peak_mb, _tree_pss_mb(pids))
            self._stop.wait(self.every)

    def __enter__(self) -> TreeWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextmanager
def without_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: for code making many small acyclic objects.

    Inside a ``freezing`` scope what was made is frozen on the way out (``settle``): else the
    first collection after it scans every object made inside (1.5 s after a province tier's
    check)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            settle()
            gc.enable()


# ``freezing`` scopes entered and not yet left (a build's); ``settle`` freezes only inside one
_freezing = 0
_freezing_lock = threading.Lock()


@contextmanager
def freezing() -> Iterator[None]:
    """A scope (a build) whose long-lived objects may be frozen with ``settle``; leaving the
    outermost one thaws them (``gc.unfreeze``), so they can be collected again."""
    global _freezing
    with _freezing_lock:
        _freezing += 1
    try:
        yield
    finally:
        with _freezing_lock:
            _freezing -= 1
            if _freezing == 0:
                gc.unfreeze()


def settle() -> None:
    """Inside ``freezing``: every object alive now is moved out of the cyclic garbage
    collector's view (``gc.freeze``) until the scope ends. For the data a build makes once and
    keeps to the end (the dataset, the pages and their keys, the case statistics): with the
    default thresholds each growth of the heap by a quarter costs a full collection of all of
    it, 3-4 s apiece at the province tier. Outside such a scope it does nothing."""
    with _freezing_lock:
        if _freezing:
            gc.freeze()
