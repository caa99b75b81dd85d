"""Weigh the community pages: HTML bytes of every community page, on the sample and a tier.

    .venv/bin/python bench/bench_weight.py                 # the sample data and the district
    .venv/bin/python bench/bench_weight.py --tier city     # the sample and the city

Goal (issue #16): every community page is at most 50 KB (50,000 bytes) of HTML at every
tier, with its statistics (the case records) built in. For each data set the script builds
the site with ``gongzhi build --no-index`` (the search index does not change a page's HTML),
generating the tier's data with ``gongzhi synth`` first unless it is already there, then
reports for the community pages: how many, median, 95th percentile and largest size, the
three heaviest, how many are over the goal, and the gzip size of the heaviest (what a phone
downloads). Results go to stdout and to ``bench/out/weight/result.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GONGZHI = ROOT / ".venv" / "bin" / "gongzhi"
GOAL_BYTES = 50_000


def community_page_weights(site: Path) -> dict[str, int]:
    """HTML bytes of each community page of a built site, keyed by the community's folder."""
    return {page.parent.name: page.stat().st_size for page in sorted((site / "communities").glob("*/index.html"))}


def summarise(weights: dict[str, int], site: Path) -> dict:
    """The figures reported for one site's community pages."""
    sizes = sorted(weights.values())
    heaviest = sorted(weights.items(), key=lambda item: -item[1])[:3]
    top = site / "communities" / heaviest[0][0] / "index.html"
    return {
        "community_pages": len(sizes),
        "median_bytes": int(statistics.median(sizes)),
        "p95_bytes": sizes[min(len(sizes) - 1, round(0.95 * (len(sizes) - 1)))],
        "max_bytes": sizes[-1],
        "heaviest": [{"community": name, "bytes": size} for name, size in heaviest],
        "heaviest_gzip_bytes": len(gzip.compress(top.read_bytes(), 6)),
        "over_goal": sum(size > GOAL_BYTES for size in sizes),
        "goal_bytes": GOAL_BYTES,
        "goal_ok": sizes[-1] <= GOAL_BYTES,
    }


def build(data: Path, work: Path) -> tuple[Path, float]:
    """Build ``data`` into ``work/site`` without the search index; return the site and seconds."""
    site = work / "site"
    start = time.perf_counter()
    done = subprocess.run([str(GONGZHI), "build", "--data", str(data), "--out", str(site), "--no-index"],
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"构建 {data} 失败（退出码 {done.returncode}）")
    return site, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description="村社页面重量：样例数据与一个规模层级的全部村社页 HTML 字节")
    parser.add_argument("--tier", choices=("district", "city"), default="district")
    args = parser.parse_args()

    out = ROOT / "bench" / "out" / "weight"
    out.mkdir(parents=True, exist_ok=True)
    tier_work = ROOT / "bench" / "out" / f"build-{args.tier}"
    tier_data = tier_work / "data"
    if not (tier_data / "datapackage.yaml").exists():
        print(f"生成 {args.tier} 规模的数据……", flush=True)
        subprocess.run([str(GONGZHI), "synth", "--tier", args.tier, "--out", str(tier_work), "--quiet"],
                       cwd=ROOT, check=True)

    result = {"load_average": os.getloadavg(), "sets": {}}
    for name, data, work in (("sample", ROOT / "data", out / "sample"),
                             (args.tier, tier_data, out / args.tier)):
        print(f"构建 {name}（不建搜索索引）……", flush=True)
        site, seconds = build(data, work)
        figures = summarise(community_page_weights(site), site)
        figures["build_s"] = round(seconds, 1)
        result["sets"][name] = figures
        heaviest = "、".join(f"{entry['community']} {entry['bytes'] / 1000:.1f}" for entry in figures["heaviest"])
        print(f"  {figures['community_pages']} 个村社页：中位 {figures['median_bytes'] / 1000:.1f} KB，"
              f"95% 分位 {figures['p95_bytes'] / 1000:.1f} KB，最大 {figures['max_bytes'] / 1000:.1f} KB"
              f"（gzip {figures['heaviest_gzip_bytes'] / 1000:.1f} KB）；最重：{heaviest} KB；"
              f"超过 50 KB 的 {figures['over_goal']} 个", flush=True)

    (out / "result.json").write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    ok = all(figures["goal_ok"] for figures in result["sets"].values())
    print("目标（每个村社页 ≤ 50 KB）：" + ("达到" if ok else "未达到"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
