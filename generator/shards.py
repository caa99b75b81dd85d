"""Sharded builds: the site's pages split among several MkDocs runs, assembled into one site.

Above ``SHARD_PAGES`` pages (or when ``gongzhi build --shards N`` asks), every shard is one
MkDocs companion run (``mkdocs_feed``) that knows every file of the site, so links between
shards resolve, but reads and renders only its own pages (the pages in the navigation are read
by every shard, their titles make the navigation). Local shards start when the render stage
has planned the docs folder and follow it as it writes, as a single run does; shards on Dask
start once every page is written. Shard 0, the *common* shard, also writes what every page
shares: the static files, the theme's assets, ``404.html`` and ``sitemap.xml``. Local shards
write into the new site's folder together (their pages are disjoint), each its own part of the
manifest (``reuse.MANIFEST``); shards on Dask write into a folder each, and their files are
moved into the new site when all have succeeded. Either way the manifests are then merged,
giving the same site as one run would. Any failed shard fails the build, which then leaves the
previous site in place.

Pages are dealt to the shards in turn, in the order the render stage planned them, so each
shard has the same mix of page kinds (and the same work). Links with an anchor into another shard's page are resolved but their anchor
is not checked (the anchor's page is rendered elsewhere); everything else is checked as in
one run.

Shards run where the executor says:

- ``local`` (the default): one process each, as many at a time as the machine has cores;
- a Dask distributed scheduler (``tcp://host:8786``): each shard is a task on a worker
  (``run_shard``). Workers run ``gongzhi``'s code and must see the project folder (docs
  folder, configuration, theme and the new site's folder) at the same path, on shared storage.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from generator import memory
from generator.mkdocs_feed import MkDocsError, MkDocsProcess, MkDocsRun
from generator.render import Feed
from generator.reuse import MANIFEST, read_manifest, write_manifest

# Above this many pages a build is split into shards, one per core. Measured on this 2-core
# machine (bench/bench_shards.py, full builds): the sample's 318 pages took 5.0 s as one run
# and 6.4 s as 2 shards; the district's 4,020 pages 37.0 s and 33.6 s. The line is drawn
# between the two, nearer the larger: below it a second MkDocs process costs more than it saves.
SHARD_PAGES = 3000


def plan_shards(paths: list[str], count: int) -> list[list[str]]:
    """The Markdown pages of ``paths`` dealt in turn to ``count`` shards."""
    pages = [p for p in paths if p.endswith(".md")]
    return [pages[i::count] for i in range(count)]


@dataclasses.dataclass
class ShardJob:
    """One shard's run: everything a worker needs, as plain values (it travels to Dask)."""

    index: int
    config_file: str
    docs_dir: str
    out_dir: str
    previous_site: str | None
    plan: list[str]
    extra: dict[str, Any]
    pages: list[str]
    manifest: str = MANIFEST  # where the shard writes its pages' manifest, in out_dir
    shared: bool = False  # other shards write into out_dir at the same time


_RUNNING: dict[int, MkDocsProcess] = {}  # local shards' processes, to end them on a failure
_LOCK = threading.Lock()


def run_shard(job: ShardJob) -> dict[str, Any]:
    """Run one shard to the end (on this machine or a Dask worker); the MkDocs run's figures.
    Raises ``MkDocsError`` (a Chinese message) when it failed."""
    for path in (job.docs_dir, job.config_file):
        if not Path(path).exists():
            raise MkDocsError(f"第 {job.index + 1} 个分片找不到 {path}：执行分片的机器需要在同一路径看到项目文件夹（如共享存储）。")
    process = _process(job)
    with _LOCK:
        _RUNNING[job.index] = process
    try:
        process.start()
        process.plan(job.plan)
        process.ready(len(job.plan))
        process.done()
        run = process.finish()
    finally:
        with _LOCK:
            _RUNNING.pop(job.index, None)
        process.kill()
    return dataclasses.asdict(run)


def _process(job: ShardJob) -> MkDocsProcess:
    """The MkDocs companion that builds the shard."""
    process = MkDocsProcess(Path(job.config_file), Path(job.docs_dir), Path(job.out_dir),
                            previous_site=Path(job.previous_site) if job.previous_site else None)
    process.shard = {"pages": job.pages, "common": job.index == 0, "manifest": job.manifest,
                     "shared": job.shared}
    process.extra = job.extra
    return process


class ShardedBuild(Feed):
    """The engine stage of a sharded build, seen from the build: the ``render.Feed`` the render
    stage writes to (it only records the plan), then the shards, then the assembly."""

    def __init__(self, config_file: Path, docs_dir: Path, site_dir: Path, *, shards: int | None,
                 executor: str = "local", previous_site: Path | None = None, only: int | None = None) -> None:
        self.config_file = Path(config_file).resolve()
        self.docs_dir = Path(docs_dir).resolve()
        self.site_dir = Path(site_dir).resolve()
        self.requested = shards  # None: by the page count (SHARD_PAGES), one per core
        self.count = shards or 1
        self.executor = executor
        self.previous_site = previous_site
        self.only = only  # build just this shard (into site_dir), for assemble()
        self.extra: dict[str, Any] = {}
        self.planned_at: float | None = None
        self.paths: list[str] = []
        self.folders: list[Path] = []
        self.jobs: list[ShardJob] = []
        self.processes: list[MkDocsProcess] = []  # the local shards, fed as the pages are written

    def start(self) -> ShardedBuild:
        if self.executor != "local":
            _dask_client(self.executor).close()  # fail now, before any page is rendered
        return self

    # the Feed: local shards follow the render stage as it writes, as one MkDocs run does

    def plan(self, paths: list[str]) -> None:
        self.planned_at = time.perf_counter()
        self.paths = list(paths)
        if self.requested is None:  # one shard per core here, or per worker of the cluster
            pages_in_plan = sum(1 for p in self.paths if p.endswith(".md"))
            self.count = self._cores() if pages_in_plan > SHARD_PAGES else 1
        self.jobs = self._jobs()
        if self.executor != "local":
            return  # Dask's shards start once every page is written (finish)
        try:
            for job in self.jobs:
                process = _process(job)
                with _LOCK:
                    _RUNNING[job.index] = process
                self.processes.append(process)
                process.start()
                process.plan(job.plan)
        except BaseException:
            self.kill()
            raise

    def ready(self, count: int) -> None:
        for process in self.processes:
            process.ready(count)

    def digest(self, path: str, md: str) -> None:
        for process in self.processes:
            process.digest(path, md)

    def flush(self) -> None:
        for process in self.processes:
            process.flush()

    def done(self) -> None:
        for process in self.processes:
            process.done()

    def _jobs(self) -> list[ShardJob]:
        pages = plan_shards(self.paths, self.count)
        previous = str(self.previous_site) if self.previous_site else None
        if self.only is not None:  # one shard, straight into the site folder
            return [ShardJob(self.only, str(self.config_file), str(self.docs_dir), str(self.site_dir),
                             previous, self.paths, dict(self.extra), pages[self.only])]
        if self.executor == "local":
            # one folder for all: nothing is moved afterwards (at the city tier moving 20,000
            # files and their folders took seconds after the last shard had finished)
            self.folders = [self.site_dir]
            return [ShardJob(i, str(self.config_file), str(self.docs_dir), str(self.site_dir), previous,
                             self.paths, dict(self.extra), pages[i], manifest=_part(i), shared=self.count > 1)
                    for i in range(self.count)]
        self.folders = [self.site_dir] + [
            self.site_dir.with_name(f"{self.site_dir.name}.shard-{i}") for i in range(1, self.count)]
        for folder in self.folders[1:]:
            shutil.rmtree(folder, ignore_errors=True)
        return [ShardJob(i, str(self.config_file), str(self.docs_dir), str(folder), previous,
                         self.paths, dict(self.extra), pages[i], manifest=_part(i))
                for i, folder in enumerate(self.folders)]

    # the shards

    def finish(self, stop: Callable[[], bool] | None = None, poll: float = 0.2) -> MkDocsRun:
        started = self.planned_at or time.perf_counter()
        if self.executor == "local":
            runs = self._local(stop, poll)
        else:
            for job in self.jobs:
                job.extra = dict(self.extra)
            runs = self._dask(self.jobs, stop, poll)
        if self.only is None:
            self._assemble()
        return _total(runs, time.perf_counter() - started, self.count)

    def _cores(self) -> int:
        if self.executor == "local":
            return max(1, os.cpu_count() or 1)
        client = _dask_client(self.executor)
        try:
            return max(1, len(client.scheduler_info().get("workers", {})))
        finally:
            client.close()

    def _local(self, stop, poll) -> list[dict[str, Any]]:
        """Wait for the local shards (started with the plan): their figures, in shard order.
        The first that fails (or ``stop()``) ends the others."""
        with _LOCK:
            processes = [_RUNNING[job.index] for job in self.jobs]
        with ThreadPoolExecutor(max_workers=len(processes), thread_name_prefix="gongzhi-shard") as pool:
            futures = [pool.submit(process.finish, stop, poll) for process in processes]
            try:
                for future in as_completed(futures):
                    future.result()  # a failed shard raises here
            except BaseException:
                self.kill()
                raise
        with _LOCK:
            for job in self.jobs:
                _RUNNING.pop(job.index, None)
        return [dataclasses.asdict(f.result()) for f in futures]

    def _dask(self, jobs: list[ShardJob], stop, poll) -> list[dict[str, Any]]:
        client = _dask_client(self.executor)
        try:
            futures = client.map(run_shard, jobs, pure=False)
            try:
                while not all(f.done() for f in futures):
                    for future in futures:
                        if future.status == "error":
                            future.result()
                    if stop is not None and stop():
                        raise MkDocsError("构建已停止：事件记录校验未通过。")
                    time.sleep(poll)
                return client.gather(futures)
            except BaseException:
                client.cancel(futures)
                raise
        finally:
            client.close()

    def _assemble(self) -> None:
        """Move the other shards' files (if in folders of their own) into the common shard's
        folder; one manifest from the shards' parts."""
        with memory.without_gc():  # a record per page of the site, no cycles
            self._assemble_parts()

    def _assemble_parts(self) -> None:
        pages: dict[str, dict[str, Any]] = {}
        dynamic: str | None = None
        for job in self.jobs:
            folder = Path(job.out_dir)
            found, digest = read_manifest(folder, job.manifest)
            pages.update(found)
            dynamic = dynamic or digest
            (folder / job.manifest).unlink(missing_ok=True)
            if folder != self.site_dir:
                _move_files(folder, self.site_dir, move=True)
                shutil.rmtree(folder, ignore_errors=True)
        write_manifest(self.site_dir, pages, dynamic=dynamic)

    def kill(self) -> None:
        with _LOCK:
            running = list(_RUNNING.values())
            for job in self.jobs:
                _RUNNING.pop(job.index, None)
        for process in running:
            process.kill()
        for folder in self.folders[1:]:
            shutil.rmtree(folder, ignore_errors=True)


def _part(index: int) -> str:
    """The name of a shard's part of the manifest, beside the site's (merged into it)."""
    return f"{MANIFEST}.shard-{index}"


def _total(runs: list[dict[str, Any]], seconds: float, count: int) -> MkDocsRun:
    total = MkDocsRun(build_s=seconds)
    total.cpu_s = sum(r["cpu_s"] for r in runs)
    total.peak_rss_mb = max(r["peak_rss_mb"] for r in runs)
    total.startup_s = max(r["startup_s"] for r in runs)
    for run in runs:
        for key, value in (run.get("pages") or {}).items():
            total.pages[key] = total.pages.get(key, 0) + value
    total.pages["shards"] = count
    return total


def _move_files(folder: Path, target: Path, *, move: bool) -> None:
    """Every file of ``folder`` (but its manifest) into the same place under ``target``."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            source = Path(root) / name
            relative = source.relative_to(folder)
            if relative.as_posix() == MANIFEST:
                continue
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            if move:
                os.replace(source, destination)
            else:
                shutil.copy2(source, destination)


class AssembleError(Exception):
    """The parts do not make a site (Chinese message)."""


def assemble(parts: list[Path], target: Path) -> int:
    """Shard folders built separately (``gongzhi build --shards N --shard-index K``, one CI job
    each) copied into ``target`` with one manifest; the number of pages."""
    pages: dict[str, dict[str, Any]] = {}
    dynamic: str | None = None
    for part in parts:
        found, digest = read_manifest(part)
        dynamic = dynamic or digest
        if not (part / MANIFEST).is_file():
            raise AssembleError(f"{part} 不是分片的输出（缺少 {MANIFEST}）。")
        overlap = set(found) & set(pages)
        if overlap:
            raise AssembleError(f"{part} 与其他分片有相同的页面（如 {sorted(overlap)[0]}）：是不是同一个分片给了两次？")
        pages.update(found)
        _move_files(part, target, move=False)
    if not (target / "sitemap.xml").is_file() and not (target / "404.html").is_file():
        raise AssembleError("缺少第 0 个分片：它写出各页共用的文件（样式、脚本、404 页和站点地图）。")
    write_manifest(target, pages, dynamic=dynamic)
    return len(pages)


def _dask_client(address: str) -> Any:
    try:
        from distributed import Client
    except ImportError as exc:
        raise MkDocsError("用 Dask 执行分片需要 distributed：请运行 scripts/setup。") from exc
    try:
        return Client(address, timeout=10, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise MkDocsError(f"无法连接 Dask 调度器 {address}：{exc}") from exc
