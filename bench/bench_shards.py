"""Where sharding starts to pay: full builds as one MkDocs run and as N shards (issue #13).

    .venv/bin/python bench/bench_shards.py --tier district --shards 1 2
    .venv/bin/python bench/bench_shards.py --tier sample --shards 1 2

One run (``--shards 1``) is MkDocs as the build normally runs it, reading the pages while the
render stage writes them; N shards wait for the render stage and then run N MkDocs processes
at once (``generator/shards.py``), each rendering a share of the pages. Every build starts
from nothing (no docs folder, no site, no cache). Reports wall time, the MkDocs stage and the
peak memory of the largest process, to stdout and ``bench/results/shards-<tier>.json``.
``generator.shards.SHARD_PAGES`` is set from these figures.
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


def child(data: Path, site: Path, docs: Path, shards: int) -> None:
    import resource

    from generator.build import build

    report = build(data, site, docs_dir=docs, shards=shards)
    usage = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps({"timings": {k: round(v, 2) for k, v in report.timings.items()},
                      "pages": report.mkdocs.pages, "mkdocs_cpu_s": round(report.mkdocs.cpu_s, 1),
                      "peak_rss_mb": round(usage / 1024, 1)}))


def main() -> int:
    parser = argparse.ArgumentParser(description="一次 MkDocs 与分片构建的对比")
    parser.add_argument("--tier", choices=("sample", "district", "city", "province"), default="district")
    parser.add_argument("--shards", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        data, site, docs, shards = args.child
        child(Path(data), Path(site), Path(docs), int(shards))
        return 0
    work = ROOT / "bench" / "out" / f"shards-{args.tier}"
    data = ROOT / "data" if args.tier == "sample" else ROOT / "bench" / "out" / f"engines-{args.tier}" / "data"
    if not (data / "datapackage.yaml").is_file():
        subprocess.run([str(ROOT / ".venv/bin/gongzhi"), "synth", "--tier", args.tier, "--out", str(data.parent), "--quiet"],
                       check=True, cwd=ROOT)
    results = {}
    for shards in args.shards:
        site, docs = work / f"site-{shards}", work / f"docs-{shards}"
        for folder in (site, docs, data.parent / ".gongzhi", ROOT / ".gongzhi" / "cache" / "jinja"):
            if folder != ROOT / ".gongzhi":
                shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        out = subprocess.run([str(PYTHON), str(Path(__file__).resolve()), "--child", str(data), str(site), str(docs),
                              str(shards)], capture_output=True, text=True, cwd=ROOT,
                             env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
        wall = time.perf_counter() - started
        if out.returncode != 0:
            sys.stderr.write(out.stderr[-3000:])
            return 1
        report = json.loads(out.stdout.strip().splitlines()[-1])
        results[str(shards)] = {"wall_s": round(wall, 1), **report}
        print(f"{shards} 片：{wall:.1f} 秒，MkDocs 阶段 {report['timings']['mkdocs']} 秒，"
              f"峰值内存 {report['peak_rss_mb']:.0f} MB", flush=True)
    document = {"tier": args.tier, "cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "runs": results}
    out_file = ROOT / "bench" / "results" / f"shards-{args.tier}.json"
    out_file.write_text(json.dumps(document, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"结果：{out_file}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
