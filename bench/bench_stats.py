"""Measure the case statistics (and chart drawing) at the scale tiers: wall time and peak memory.

Case files are generated with DuckDB straight to CSV or Parquet (no Python rows), then
``generator.stats.compute_stats`` runs in a fresh process per measurement so that its peak
resident memory is its own. The display side (``build_view``: every street and community
page's figures, without charts) is timed in the same process.

    .venv/bin/python bench/bench_stats.py                          # district tier, CSV
    .venv/bin/python bench/bench_stats.py province --format parquet csv
    .venv/bin/python bench/bench_stats.py --charts 200             # per-chart cost

Generated files go to bench/out/stats/ (git-ignored) and are reused when present.

Tiers (from DESIGN.md): district 300 communities / 1,500 grids / 1.3 M cases over 5 quarters;
city 3,000 / 15,000 / 5 M; province 25,000 / 85,000 / 12 M cases in one year (4 quarters).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "stats"

TIERS = {
    #            streets, communities, grids, cases, quarters
    "district": (20, 300, 1_500, 1_300_000, 5),
    "city": (200, 3_000, 15_000, 5_000_000, 5),
    "province": (1_300, 25_000, 85_000, 12_000_000, 4),
}


def generate(tier: str, fmt: str) -> tuple[Path, dict[str, str]]:
    """Write the tier's case file once (reused); return it and the community → street map."""
    import duckdb

    streets, communities, grids, cases, quarters = TIERS[tier]
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{tier}.{fmt}"
    mapping = {f"c{c:05d}": f"s{c % streets:04d}" for c in range(communities)}
    if path.exists():
        return path, mapping
    start = "2025-07-01" if quarters == 5 else "2026-01-01"
    seconds = quarters * 91 * 86400
    per_community = max(1, grids // communities)
    query = f"""
    WITH base AS (
        SELECT i,
               (hash(i) % {grids})::BIGINT AS g,
               TIMESTAMP '{start} 08:00:00' + to_seconds((i * {seconds}) // {cases}) AS reported_at,
               (hash(i * 7 + 1) % 1000)::BIGINT AS r1, (hash(i * 13 + 5) % 1000)::BIGINT AS r2, (hash(i * 31 + 9) % 1000)::BIGINT AS r3
        FROM range({cases}) t(i)
    ), shaped AS (
        SELECT *,
               CASE WHEN r1 < 10 THEN '已撤销' WHEN r1 < 15 THEN '待受理' WHEN r1 < 40 THEN '处理中' ELSE '已办结' END AS status,
               reported_at + to_minutes(5 + r2 % 120) AS accepted_at,
               reported_at + to_hours(24 * (1 + r3 % 7)) AS due_at
        FROM base
    )
    SELECT 'C' || lpad(i::VARCHAR, 10, '0') AS id,
           'c' || lpad((least(g // {per_community}, {communities - 1}))::VARCHAR, 5, '0') AS community,
           'g' || lpad(g::VARCHAR, 6, '0') AS grid,
           (['网格员巡查', '居民上报', '12345热线', '城市大脑感知', '部门移交'])[1 + r2 % 5] AS channel,
           (['环境卫生', '市容秩序', '物业管理', '邻里纠纷', '公共设施', '安全隐患', '民生服务', '其他'])[1 + r3 % 8] AS category,
           '示例' AS subcategory,
           strftime(reported_at, '%Y-%m-%dT%H:%M:%S') AS reported_at,
           CASE WHEN status IN ('已撤销', '待受理') THEN NULL ELSE strftime(accepted_at, '%Y-%m-%dT%H:%M:%S') END AS accepted_at,
           NULL AS dispatched_at,
           CASE WHEN status IN ('已撤销', '待受理') THEN NULL ELSE strftime(due_at, '%Y-%m-%dT%H:%M:%S') END AS due_at,
           CASE WHEN status = '已办结' THEN strftime(accepted_at + to_minutes(30 + (r1 * r2) % (60 * 24 * 8)), '%Y-%m-%dT%H:%M:%S') END AS closed_at,
           status,
           CASE WHEN status = '已办结' THEN (['网格', '网格', '网格', '社区', '镇街', '区级'])[1 + (r1 + r3) % 6] END AS resolved_level,
           CASE WHEN status = '已办结' AND r2 % 3 = 0 THEN (['满意', '满意', '基本满意', '不满意'])[1 + r1 % 4] END AS satisfaction
    FROM shaped
    """
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    if fmt == "parquet":  # typed time stamps, as `gongzhi synth` and platform exports write them
        query = f"""SELECT * REPLACE (CAST(reported_at AS TIMESTAMP) AS reported_at,
            CAST(accepted_at AS TIMESTAMP) AS accepted_at, CAST(due_at AS TIMESTAMP) AS due_at,
            CAST(closed_at AS TIMESTAMP) AS closed_at, NULL::TIMESTAMP AS dispatched_at) FROM ({query})"""
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER true"
    tmp = path.with_suffix(path.suffix + ".tmp")
    con.execute(f"COPY ({query}) TO '{tmp}' ({options})")
    tmp.replace(path)
    return path, mapping


def measure_child(tier: str, path: str, threads: int) -> None:
    """Runs in a fresh process: compute the statistics, print timings as JSON."""
    from generator.model import Community, CommunityKind, Dataset, District, Street, StreetKind
    from generator.stats import build_view, compute_stats

    streets, communities, *_ = TIERS[tier]
    mapping = {f"c{c:05d}": f"s{c % streets:04d}" for c in range(communities)}
    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    started, cpu_started = time.perf_counter(), cpu()
    stats = compute_stats([Path(path)], mapping, district="999999", threads=threads or None)
    computed, cpu_computed = time.perf_counter(), cpu()
    dataset = Dataset(
        root=OUT, district=District("999999", "基准区", True),
        streets={f"s{s:04d}": Street(f"s{s:04d}", f"999999{s:03d}", f"街道{s}", "999999", StreetKind.SUBDISTRICT)
                 for s in range(streets)},
        communities={cid: Community(cid, "999999000000", cid, sid, CommunityKind.COMMUNITY) for cid, sid in mapping.items()},
    )
    build_view(stats, dataset, charts=False)
    viewed = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kib = usage.ru_maxrss
    print(json.dumps({"compute_s": computed - started, "view_s": viewed - computed,
                      "kpis": len(stats.kpis), "peak_mib": peak_kib / 1024, "cpu_s": usage.ru_utime + usage.ru_stime,
                      "compute_cpu_s": cpu_computed - cpu_started, "load": os.getloadavg()[0],
                      "received": sum(stats.district_kpi(q).received for q in stats.quarters)}))


def measure_charts(count: int) -> dict[str, float]:
    from generator.charts import ChartRenderer, line_chart

    labels = ["2025年3季度", "2025年4季度", "2026年1季度", "2026年2季度", "2026年3季度"]

    def spec(i: int):
        return line_chart(f"社区{i}：近5个季度趋势", labels, [
            ("按期办结率", [0.9, 0.92, (i % 97) / 100, 0.95, 0.93]),
            ("网格内解决率", [0.7, 0.72, 0.75, (i % 89) / 100, 0.74]),
            ("满意率", [0.95, 0.96, 0.97, 0.96, (i % 83) / 100])])

    results = {}
    for label, renderer in (("matplotlib_1_worker", ChartRenderer(workers=1, fast_lines=False)),
                            ("matplotlib_2_workers", ChartRenderer(workers=2, fast_lines=False)),
                            ("shared_frame", ChartRenderer(workers=1))):
        renderer.render(spec(-1))  # import, fonts and the frame: once per build, not counted
        started = time.perf_counter()
        renderer.render_many(spec(i + 1000 * len(results) * count) for i in range(count))
        results[f"ms_per_chart_{label}"] = (time.perf_counter() - started) / count * 1000
    renderer.render_many(spec(i + 2000 * count) for i in range(count))
    started = time.perf_counter()
    renderer.render_many(spec(i + 2000 * count) for i in range(count))  # the second time: cached
    results["ms_per_chart_cached"] = (time.perf_counter() - started) / count * 1000
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="统计阶段的基准：耗时与峰值内存")
    parser.add_argument("tiers", nargs="*", help="district (default), city, province")
    parser.add_argument("--format", nargs="+", default=["csv"], choices=["csv", "parquet"])
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (default: all cores)")
    parser.add_argument("--charts", type=int, default=0, help="also time N trend charts")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = [t for t in args.tiers if t not in TIERS]
    if unknown:
        parser.error(f"unknown tier: {', '.join(unknown)} (choose from {', '.join(TIERS)})")
    if args.child:
        measure_child(args.child[0], args.child[1], args.threads)
        return 0
    for tier in args.tiers or ["district"]:
        for fmt in args.format:
            started = time.perf_counter()
            path, _ = generate(tier, fmt)
            generated = time.perf_counter() - started
            wall = time.perf_counter()
            child = subprocess.run(
                [sys.executable, __file__, "--child", tier, str(path), "--threads", str(args.threads)],
                capture_output=True, text=True, cwd=ROOT,
            )
            wall = time.perf_counter() - wall
            if child.returncode:
                print(child.stderr, file=sys.stderr)
                return 1
            result = json.loads(child.stdout.strip().splitlines()[-1])
            size = path.stat().st_size / 2**20
            print(f"{tier:9} {fmt:8} {TIERS[tier][3]:>11,} rows  file {size:8.1f} MiB  "
                  f"load {result['load']:4.1f}  "
                  f"(generated/reused in {generated:5.1f} s)  statistics {result['compute_s']:6.1f} s "
                  f"(CPU {result['compute_cpu_s']:6.1f} s)  "
                  f"views {result['view_s']:5.1f} s  process {wall:6.1f} s (CPU {result['cpu_s']:6.1f} s)  peak {result['peak_mib']:7.0f} MiB  "
                  f"{result['kpis']:,} KPI records, {result['received']:,} cases counted")
    if args.charts:
        figures = measure_charts(args.charts)
        print("charts: " + ", ".join(f"{k} {v:.1f}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
