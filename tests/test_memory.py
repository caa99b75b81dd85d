"""Memory figures: a process's own peak, not its parent's (what ru_maxrss reports after exec)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from generator.memory import TreeWatch, peak_rss_mb, tree_rss_mb

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

CHILD = "from generator.memory import peak_rss_mb; print(peak_rss_mb())"


def test_a_child_reports_its_own_peak_not_its_parents():
    ballast = bytearray(400 * 2**20)
    ballast[:: 4096] = b"\1" * len(ballast[:: 4096])  # touched: resident
    assert peak_rss_mb() > 400
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
    assert 1 < float(out) < 200
    del ballast


def test_the_tree_watch_sees_a_child_process():
    child = subprocess.Popen([sys.executable, "-c",
                              "b = bytearray(150 * 2**20); b[::4096] = b'1' * len(b[::4096]); import time; time.sleep(3)"])
    try:
        with TreeWatch(child.pid, every=0.1) as watch:
            deadline = time.monotonic() + 3
            while watch.peak_mb < 150 and time.monotonic() < deadline:
                time.sleep(0.05)
            now = tree_rss_mb(child.pid)
        assert watch.peak_mb >= 150
        assert now >= 150
    finally:
        child.kill()
        child.wait()


def test_forked_workers_sharing_their_parents_pages_are_not_counted_twice():
    code = ("import os, time\n"
            "b = bytearray(200 * 2**20); b[::4096] = b'1' * len(b[::4096])\n"
            "pids = [os.fork() for _ in range(1)]\n"
            "time.sleep(3)\n"
            "if pids[0] == 0: os._exit(0)\n"
            "os.wait()\n")
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(1.5)  # both alive, the child's pages still shared
        total = tree_rss_mb(parent.pid)
        assert 200 <= total < 330, total  # 200 MB once, not twice
    finally:
        parent.kill()
        parent.wait()


def test_settle_freezes_only_inside_a_freezing_scope_and_the_scope_thaws_on_the_way_out():
    import gc

    from generator import memory

    gc.unfreeze()
    memory.settle()
    assert gc.get_freeze_count() == 0  # outside a build: nothing is frozen
    kept = [[n] for n in range(1000)]
    with memory.freezing():
        memory.settle()
        assert gc.get_freeze_count() >= len(kept)
        with memory.freezing():  # a scope inside another leaves the freezing to the outer one
            pass
        assert gc.get_freeze_count() >= len(kept)
    assert gc.get_freeze_count() == 0
    with pytest.raises(RuntimeError), memory.freezing():
        memory.settle()
        raise RuntimeError("a failed build")
    assert gc.get_freeze_count() == 0
