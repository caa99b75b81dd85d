"""Full builds and rebuilds after one edit, with each engine, at a scale tier (issue #13).

    .venv/bin/python bench/bench_engines.py --tier district
    .venv/bin/python bench/bench_engines.py --tier city --engines mkdocs zensical

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
        "engine_peak_rss_mb": round(report.mkdocs.peak_rss_mb, 1) if report.mkdocs else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),  # the build's own process
        "pages": report.pages_written + report.pages_unchanged,
    }))


def main() -> int:
    parser = argparse.ArgumentParser(description="两种引擎的完整构建与改动一处后的重新构建")
    parser.add_argument("--tier", choices=("district", "city", "province"), default="district")
    parser.add_argument("--engines", nargs="+", choices=("mkdocs", "zensical"), default=["mkdocs", "zensical"])
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
    results: dict[str, dict] = {}
    for engine in args.engines:
        site, docs = work / f"site-{engine}", work / f"docs-{engine}"
        for folder in (site, docs, work / ".gongzhi", ROOT / ".gongzhi" / "cache" / "jinja", work / ".cache"):
            shutil.rmtree(folder, ignore_errors=True)
        command = [str(PYTHON), str(Path(__file__).resolve()), "--child", str(data), str(site), str(docs), engine]
        print(f"{engine}：完整构建……", flush=True)
        full_wall, full_rss, full = run_child(command)
        original = meeting.read_bytes()
        text = original.decode("utf-8")
        at = text.index("\ntitle: ") + len("\ntitle: ")
        meeting.write_text(text[:at] + "（更正）" + text[at:], encoding="utf-8")
        print(f"{engine}：改动一个会议后重新构建……", flush=True)
        try:
            re_wall, re_rss, rebuild = run_child(command)
        finally:
            meeting.write_bytes(original)
        results[engine] = {
            "full_wall_s": round(full_wall, 1), "full_peak_rss_mb": full_rss, "full": json.loads(full),
            "rebuild_wall_s": round(re_wall, 1), "rebuild_peak_rss_mb": re_rss, "rebuild": json.loads(rebuild),
        }
        print(f"  完整 {full_wall:.1f} 秒（峰值内存 {full_rss:.0f} MB），重新构建 {re_wall:.1f} 秒（{re_rss:.0f} MB）", flush=True)
    base = results.get("mkdocs", {}).get("full_wall_s")
    for entry in results.values():
        if base:
            entry["full_vs_full_mkdocs"] = round(entry["full_wall_s"] / base, 3)
            entry["rebuild_vs_full_mkdocs"] = round(entry["rebuild_wall_s"] / base, 3)
    document = {"tier": args.tier, "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
                "pages": next(iter(results.values()))["full"]["pages"], "engines": results}
    out = ROOT / "bench" / "results" / f"engines-{args.tier}.json"
    out.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({e: {k: v for k, v in r.items() if k not in ("full", "rebuild")} for e, r in results.items()},
                     ensure_ascii=False, indent=2))
    print(f"结果：{out}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
