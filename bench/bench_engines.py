"""Full builds and rebuilds after one edit, with each engine, at a scale tier (issue #13).

    .venv/bin/python bench/bench_engines.py --tier district
    .venv/bin/python bench/bench_engines.py --tier city --engines mkdocs zensical
    .venv/bin/python bench/bench_engines.py --tier province --engines mkdocs --steps full

For each engine, in a child process each, the whole ``gongzhi build`` pipeline:

- **full build**: no docs folder, no site, no result cache: everything is rendered;
- **rebuild after one meeting edit**: a word added to one meeting's title, the rest as the full
  build left it. With MkDocs the pages whose inputs did not change come from the last site
  (``generator/reuse.py``) and only the search shards with changed pages are indexed again;
  Zensical keeps its own cache (``.cache`` beside the project) and renders what it decides to.

It reports wall time, peak memory (the most the build's processes held at once, sampled every
0.5 s; ``generator/memory.py``) and each time's
ratio to the full MkDocs build, to stdout and ``bench/results/engines-<tier>.json``. The data
comes from ``gongzhi synth`` (generated once into ``bench/out/engines-<tier>/``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"


def run_child(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB (the child's whole process tree at once), stdout."""
    from generator.memory import TreeWatch

    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                               env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    with TreeWatch(process.pid) as watch:  # every process of the build at once: what must fit
        out, err = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        sys.stderr.write(err.decode("utf-8", "replace")[-4000:])
        raise SystemExit(f"构建失败（退出码 {process.returncode}）")
    report = json.loads(out.decode("utf-8").strip().splitlines()[-1])
    report["tree_peak_rss_mb"] = round(watch.peak_mb, 1)
    return wall, report["tree_peak_rss_mb"], json.dumps(report)


def child(data: Path, site: Path, docs: Path, engine: str) -> None:
    from generator.build import build
    from generator.memory import peak_rss_mb

    report = build(data, site, docs_dir=docs, engine=engine)
    print(json.dumps({
        "timings": {k: round(v, 2) for k, v in report.timings.items()},
        "engine_pages": report.mkdocs.pages if report.mkdocs else {},
        # inside "mkdocs": writing the pages (render) and waiting for the case statistics, the
        # engine's own run (its waits for pages included) and its processor time
        "beside_engine": {k: round(v, 2) for k, v in report.beside_mkdocs.items()},
        "engine_run": {k: round(getattr(report.mkdocs, k), 2) for k in ("startup_s", "build_s", "waited_s", "cpu_s")}
        if report.mkdocs else {},
        "engine_peak_rss_mb": round(report.mkdocs.peak_rss_mb, 1) if report.mkdocs else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),  # the build's own process
        "pages": report.pages_written + report.pages_unchanged,
        # pages not rendered at all: what they were made from is unchanged (generator.depends)
        "pages_fresh": report.pages_fresh,
        "render_keys_s": round(report.render_timings.get("keys", 0.0), 2),
    }))
    from generator.cli import leave

    leave(0)  # as ``gongzhi build`` ends: what a person waits for


def main() -> int:
    parser = argparse.ArgumentParser(description="两种引擎的完整构建与改动一处后的重新构建")
    parser.add_argument("--tier", choices=("district", "city", "province"), default="district")
    parser.add_argument("--engines", nargs="+", choices=("mkdocs", "zensical"), default=["mkdocs", "zensical"])
    parser.add_argument("--steps", nargs="+", choices=("full", "rebuild"), default=["full", "rebuild"],
                        help="只做其中一步（另一步的结果保留在结果文件中）；rebuild 需要上次构建的网站")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        data, site, docs, engine = args.child
        child(Path(data), Path(site), Path(docs), engine)
        return 0

    work = ROOT / "bench" / "out" / f"engines-{args.tier}"
    data = work / "data"
    if not (data / "datapackage.yaml").is_file():
        print(f"生成 {args.tier} 规模的数据……", flush=True)
        subprocess.run([str(ROOT / ".venv/bin/gongzhi"), "synth", "--tier", args.tier, "--out", str(work), "--quiet"],
                       check=True, cwd=ROOT)
    meeting = sorted((data / "meetings").rglob("*.yaml"))[0]
    out = ROOT / "bench" / "results" / f"engines-{args.tier}.json"
    results: dict[str, dict] = {}
    if out.is_file():  # engines and steps not run now keep their last figures (each says its commit)
        results = json.loads(out.read_text(encoding="utf-8"))["engines"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip() or "?"
    for engine in args.engines:
        site, docs = work / f"site-{engine}", work / f"docs-{engine}"
        entry = results.setdefault(engine, {})
        if "full" in args.steps:  # a new full build: the rebuild measured after the old one goes
            for key in [k for k in entry if k.startswith("rebuild")]:
                del entry[key]
        command = [str(PYTHON), str(Path(__file__).resolve()), "--child", str(data), str(site), str(docs), engine]
        if "full" in args.steps:
            for folder in (site, docs, work / ".gongzhi", ROOT / ".gongzhi" / "cache" / "jinja", work / ".cache"):
                shutil.rmtree(folder, ignore_errors=True)
            print(f"{engine}：完整构建……", flush=True)
            wall, rss, report = run_child(command)
            entry.update(full_wall_s=round(wall, 1), full_peak_rss_mb=rss, full=json.loads(report),
                         full_commit=commit)
            print(f"  完整构建 {wall:.1f} 秒（峰值内存 {rss:.0f} MB）", flush=True)
        if "rebuild" in args.steps:
            if not site.is_dir():
                raise SystemExit(f"没有上次构建的网站 {site}：先运行 --steps full。")
            original = meeting.read_bytes()
            text = original.decode("utf-8")
            at = text.index("\ntitle: ") + len("\ntitle: ")
            # a new word each time: the last site may have been built from an earlier edit
            meeting.write_text(text[:at] + f"（更正{time.time_ns() % 10**6}）" + text[at:], encoding="utf-8")
            print(f"{engine}：改动一个会议后重新构建……", flush=True)
            try:
                wall, rss, report = run_child(command)
            finally:
                meeting.write_bytes(original)
            entry.update(rebuild_wall_s=round(wall, 1), rebuild_peak_rss_mb=rss, rebuild=json.loads(report),
                         rebuild_commit=commit)
            print(f"  重新构建 {wall:.1f} 秒（峰值内存 {rss:.0f} MB）", flush=True)
    base = results.get("mkdocs", {}).get("full_wall_s")
    for entry in results.values():
        for step in ("full", "rebuild"):
            if base and f"{step}_wall_s" in entry:
                entry[f"{step}_vs_full_mkdocs"] = round(entry[f"{step}_wall_s"] / base, 3)
    document = {"tier": args.tier, "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
                "pages": next(r[s]["pages"] for r in results.values() for s in ("full", "rebuild") if s in r),
                "engines": results}
    out.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({e: {k: v for k, v in r.items() if k not in ("full", "rebuild")} for e, r in results.items()},
                     ensure_ascii=False, indent=2))
    print(f"结果：{out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
