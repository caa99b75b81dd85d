"""Benchmark the full portal build at the district and city tiers, beside bare MkDocs.

    .venv/bin/python bench/bench_build.py --tier district
    .venv/bin/python bench/bench_build.py --tier city --rows 500000
    .venv/bin/python bench/bench_build.py --tier district --no-index --repeat 3

On a shared machine the figures move by a third from one minute to the next: ``--repeat N``
runs N rounds (first build, rebuild, bare MkDocs), reports the round with the median
first-build share in full and lists every round.

For a tier it (1) generates the data with ``gongzhi synth`` unless it is already there,
(2) runs the whole ``gongzhi build`` pipeline in a child process (load → validate → link →
derive → render → search index → swap, with MkDocs in a companion process reading the pages
as they are written) and records every stage's time and both processes' peak memory, twice:

- **first build**: no docs folder, no site, an empty result cache (``.gongzhi/cache`` beside
  the data, and the compiled templates): what a fresh clone pays once;
- **rebuild after an edit**: one meeting's YAML file changed (a word added to its title),
  everything else as the first build left it: what an editor's pull request pays;

(3) runs bare ``mkdocs build --strict`` on the very same generated docs folder in another
child process, and (4) reports site size and the HTML bytes of the community pages. Goals
(issue #3): our own stages add at most 15 % to MkDocs's time; (issue #16) a community page is
at most 50 KB of HTML (``bench_weight.py`` weighs them on the sample and a tier). The overhead is reported for both builds, measured two ways:

- **our stages** (``our_overhead_vs_bare_mkdocs``): the build's time from start to swap,
  less the time MkDocs worked inside it (the time it waited for pages counts as ours),
  divided by bare MkDocs's wall time;
- **whole process** (``wall_overhead_vs_bare_mkdocs``, with ``--no-index``): the build
  process's wall time (interpreter start and imports included) over bare MkDocs's, less one.
  This one also counts what our work done beside MkDocs costs MkDocs in speed, and carries the
  noise of two separate runs.

Results go to stdout and to ``bench/out/build-<tier>/result.json``. Numbers depend on the
machine and on what else runs on it; the script prints the load average alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml
from bench_weight import GOAL_BYTES, community_page_weights

from generator.search import dir_size

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"


def ours(build: dict) -> float:
    """What the build added to MkDocs's own work (``BuildReport.own_s``): the build's time from
    start to swap but the time MkDocs worked in it; the time MkDocs waited for pages counts
    as the build's. The search index is included when it ran (the bench passes --no-index)."""
    return build["own_s"]


CPU_TIMES: list[float] = []  # processor seconds of each child run, in order


def run_child(args: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run a child process; return its wall time, peak RSS in bytes, and its stdout.
    Its processor time (with its children's) is appended to ``CPU_TIMES``."""
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    import threading

    def pump(stream, sink):
        for chunk in iter(lambda: stream.read(65536), b""):
            sink.append(chunk)

    threads = [threading.Thread(target=pump, args=(process.stdout, out_chunks)),
               threading.Thread(target=pump, args=(process.stderr, err_chunks))]
    for t in threads:
        t.start()
    _, status, usage = os.wait4(process.pid, 0)
    for t in threads:
        t.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    CPU_TIMES.append(usage.ru_utime + usage.ru_stime)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        sys.stderr.write(b"".join(err_chunks).decode("utf-8", "replace")[-4000:])
        raise SystemExit(f"子进程失败（退出码 {process.returncode}）：{' '.join(args)}")
    return wall, usage.ru_maxrss * 1024, b"".join(out_chunks).decode("utf-8")


def child_build(data: Path, site: Path, docs: Path, index: bool) -> None:
    """In the child: the whole pipeline, printing the stage timings as JSON."""
    import dataclasses
    import resource

    from generator.build import build

    report = build(data, site, docs_dir=docs, index=index)
    print(json.dumps({"timings": report.timings, "render_timings": report.render_timings,
                      "case_timings": report.case_timings, "beside_mkdocs": report.beside_mkdocs,
                      "mkdocs": dataclasses.asdict(report.mkdocs), "own_s": report.own_s,
                      "wall_s": report.wall_s,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "pages_written": report.pages_written, "indexed": report.indexed}))


def _busy(build: dict) -> float:
    """MkDocs's own work inside the build: its stage but the time it waited for pages."""
    return build["timings"].get("mkdocs", 0.0) - build["mkdocs"]["waited_s"]


def bare_mkdocs_config(docs: Path, site: Path, target: Path) -> Path:
    """mkdocs.yml with absolute paths to the generated docs folder and a separate site folder."""
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text("utf-8"))
    config["docs_dir"] = str(docs)
    config["site_dir"] = str(site)
    config["theme"]["custom_dir"] = str(ROOT / config["theme"]["custom_dir"])
    config.setdefault("extra", {})["sample_data"] = True
    target.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), "utf-8")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description="门户构建基准：完整管线与裸 MkDocs 对比")
    parser.add_argument("--tier", choices=("small", "district", "city", "province"), default="district")
    parser.add_argument("--rows", type=int, default=None, help="事件记录条数（默认按规模档）")
    parser.add_argument("--out", default=None, help="工作文件夹（默认 bench/out/build-<tier>）")
    parser.add_argument("--no-index", action="store_true", help="不建立搜索索引")
    parser.add_argument("--repeat", type=int, default=1,
                        help="重复几轮（首次构建、重新构建、裸 MkDocs 各一次为一轮），取首次构建占比居中的一轮，并列出每轮")
    parser.add_argument("--child", nargs=3, metavar=("DATA", "SITE", "DOCS"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        data, site, docs = (Path(p) for p in args.child)
        child_build(data, site, docs, index=not args.no_index)
        return 0

    work = Path(args.out) if args.out else ROOT / "bench" / "out" / f"build-{args.tier}"
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}

    if not (data / "datapackage.yaml").exists():
        command = [str(ROOT / ".venv" / "bin" / "gongzhi"), "synth", "--tier", args.tier, "--out", str(work), "--quiet"]
        if args.rows:
            command += ["--rows", str(args.rows)]
        print(f"生成 {args.tier} 规模的数据……", flush=True)
        synth_time, _, _ = run_child(command, env)
        print(f"  用时 {synth_time:.1f} 秒", flush=True)

    docs, site, bare_site = work / "docs", work / "site", work / "site-bare"
    child = [str(PYTHON), str(Path(__file__).resolve()), "--child", str(data), str(site), str(docs)]
    if args.no_index:
        child.append("--no-index")
    edited = sorted((data / "meetings").rglob("*.yaml"))[0]
    config = bare_mkdocs_config(docs, bare_site, work / "mkdocs-bare.yml")
    rounds = []
    for number in range(1, args.repeat + 1):
        label = f"（第 {number}/{args.repeat} 轮）" if args.repeat > 1 else ""
        for folder in (docs, site, bare_site, work / ".gongzhi", ROOT / ".gongzhi" / "cache" / "jinja"):
            subprocess.run(["rm", "-rf", str(folder)], check=True)
        print(f"首次构建（无生成文件夹、无缓存）{label}……", flush=True)
        full_wall, full_rss, out = run_child(child, env)
        full = json.loads(out.strip().splitlines()[-1])

        print(f"改动一个会议文件后重新构建{label}……", flush=True)
        original = edited.read_bytes()
        text = original.decode("utf-8")
        title_at = text.index("\ntitle: ") + len("\ntitle: ")
        edited.write_text(text[:title_at] + "（更正）" + text[title_at:], "utf-8")
        try:
            re_wall, re_rss, re_out = run_child(child, env)
        finally:
            edited.write_bytes(original)
        rebuild = json.loads(re_out.strip().splitlines()[-1])

        print(f"裸 MkDocs（同一生成文件夹，mkdocs build --strict）{label}……", flush=True)
        bare_wall, bare_rss, _ = run_child([str(ROOT / ".venv" / "bin" / "mkdocs"), "build", "--strict", "-q",
                                            "-f", str(config)], env)
        full["process_cpu_s"], rebuild["process_cpu_s"], bare_cpu = CPU_TIMES[-3:]
        full["bare_cpu_s"] = rebuild["bare_cpu_s"] = bare_cpu
        rounds.append((full_wall, full_rss, full, re_wall, re_rss, rebuild, bare_wall, bare_rss))

    # the round whose first-build share is the median (of an even count, the higher) stands for
    # the run; every round is listed
    def share(entry) -> float:
        return ours(entry[2]) / entry[6]

    ordered = sorted(rounds, key=share)
    full_wall, full_rss, full, re_wall, re_rss, rebuild, bare_wall, bare_rss = ordered[len(ordered) // 2]
    timings = full["timings"]
    every_round = [
        {
            "first_build_our_stages_s": round(ours(r[2]), 2),
            "rebuild_our_stages_s": round(ours(r[5]), 2),
            "bare_mkdocs_wall_s": round(r[6], 2),
            "first_build_mkdocs_busy_s": round(_busy(r[2]), 2),
            "first_build_mkdocs_cpu_s": round(r[2]["mkdocs"]["cpu_s"], 2),
            "rebuild_mkdocs_busy_s": round(_busy(r[5]), 2),
            "rebuild_mkdocs_cpu_s": round(r[5]["mkdocs"]["cpu_s"], 2),
            "bare_mkdocs_cpu_s": round(r[2]["bare_cpu_s"], 2),
            "first_build_cpu_s": round(r[2]["process_cpu_s"], 2),
            "first_build_share": round(share(r), 3),
            "rebuild_share": round(ours(r[5]) / r[6], 3),
            "first_build_wall_s": round(r[0], 2),
            "rebuild_wall_s": round(r[3], 2),
            "first_build_wall_overhead": round(r[0] / r[6] - 1, 3),
            "rebuild_wall_overhead": round(r[3] / r[6] - 1, 3),
        }
        for r in rounds
    ]
    medians = {
        f"median_{key}": round(statistics.median(entry[key] for entry in every_round), 3)
        for key in ("first_build_share", "rebuild_share", "first_build_wall_overhead", "rebuild_wall_overhead")
    }

    ours_full, ours_re = ours(full), ours(rebuild)
    page_sizes = list(community_page_weights(site).values())
    html_files = [p for p in site.rglob("*.html")]
    size, files = dir_size(site)
    pagefind_size, pagefind_files = dir_size(site / "pagefind")
    data_size, data_files = dir_size(site / "data")
    result = {
        "tier": args.tier,
        "load_average": os.getloadavg(),
        "cpu_count": os.cpu_count(),
        "full_build_wall_s": round(full_wall, 2),
        # the build's process and MkDocs's companion, each at its peak (they overlap in time,
        # so their sum bounds the machine's need from above)
        "full_build_peak_rss_mb": round(full["peak_rss_mb"], 1),
        "full_build_mkdocs_peak_rss_mb": round(full["mkdocs"]["peak_rss_mb"], 1),
        "stages_s": {k: round(v, 2) for k, v in timings.items()},
        "beside_mkdocs_s": {k: round(v, 2) for k, v in full["beside_mkdocs"].items()},
        "mkdocs_companion_s": {k: round(v, 2) for k, v in full["mkdocs"].items() if isinstance(v, float)},
        "render_breakdown_s": {k: round(v, 2) for k, v in sorted(full.get("render_timings", {}).items(),
                                                                 key=lambda kv: -kv[1]) if v >= 0.05},
        "our_stages_s": round(ours_full, 2),
        "mkdocs_in_pipeline_s": round(timings.get("mkdocs", 0.0), 2),
        "mkdocs_busy_in_pipeline_s": round(_busy(full), 2),
        "bare_mkdocs_wall_s": round(bare_wall, 2),
        "bare_mkdocs_peak_rss_mb": round(bare_rss / 2**20, 1),
        "our_overhead_vs_bare_mkdocs": round(ours_full / bare_wall, 3) if bare_wall else None,
        # the same question asked of whole processes: the pipeline's wall time (interpreter
        # start and imports included, search index excluded with --no-index) beside bare MkDocs
        "wall_overhead_vs_bare_mkdocs": round(full_wall / bare_wall - 1, 3) if bare_wall and args.no_index else None,
        "case_work_thread_s": full.get("case_timings", {}),
        "rebuild_after_edit": {
            "edited_file": edited.relative_to(data).as_posix(),
            "wall_s": round(re_wall, 2),
            "peak_rss_mb": round(rebuild["peak_rss_mb"], 1),
            "mkdocs_peak_rss_mb": round(rebuild["mkdocs"]["peak_rss_mb"], 1),
            "pages_written": rebuild.get("pages_written"),
            "stages_s": {k: round(v, 2) for k, v in rebuild["timings"].items()},
            "beside_mkdocs_s": {k: round(v, 2) for k, v in rebuild["beside_mkdocs"].items()},
            "mkdocs_waited_s": round(rebuild["mkdocs"]["waited_s"], 2),
            "our_stages_s": round(ours_re, 2),
            "our_overhead_vs_bare_mkdocs": round(ours_re / bare_wall, 3) if bare_wall else None,
            "wall_overhead_vs_bare_mkdocs": round(re_wall / bare_wall - 1, 3) if bare_wall and args.no_index else None,
            "goal_overhead_ok": (ours_re / bare_wall <= 0.15) if bare_wall else None,
        },
        "html_pages": len(html_files),
        "site_files": files,
        "site_mb": round(size / 2**20, 1),
        "open_data_mb": round(data_size / 2**20, 1),
        "search_index_mb": round(pagefind_size / 2**20, 1),
        "search_index_files": pagefind_files,
        "community_pages": len(page_sizes),
        "community_page_kb_mean": round(statistics.mean(page_sizes) / 1024, 1) if page_sizes else None,
        "community_page_kb_max": round(max(page_sizes) / 1024, 1) if page_sizes else None,
        "goal_overhead_ok": (ours_full / bare_wall <= 0.15) if bare_wall else None,
        "rounds": every_round,
        **medians,
        "goal_community_page_ok": (max(page_sizes) <= GOAL_BYTES) if page_sizes else None,
    }
    (work / "result.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), "utf-8")
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
