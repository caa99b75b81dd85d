"""Benchmark: validating case records at the district and province tiers, beside Frictionless.

For each tier it gets a data folder (``gongzhi synth --tier T``; with ``--data DIR`` an existing
one; without synth, case files generated here with DuckDB in the same columns), then measures,
each in a child process (wall time and peak resident memory from ``wait4``):

- ``cases``: the DuckDB case checker alone on every case file of the tier (rows/s);
- ``validate``: the whole ``gongzhi validate DIR`` (YAML files, cross-file checks and cases);
- ``yaml``: ``gongzhi validate --no-cases DIR`` (the YAML side alone);
- ``frictionless``: ``frictionless validate`` on the first 200,000 rows of the first case file
  with the same Table Schema (foreign keys left out: Frictionless cannot follow them to YAML).
  Its rows/s is extrapolated from that slice; the table says so.

Run:  .venv/bin/python bench/bench_validate.py --tier district [--tier province]
Writes bench/results/validate.json and prints a table. Heavy: the province tier is 12 M rows
(about 2.4 GB of CSV) and 25,000 communities; it takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
GONGZHI = [PYTHON, "-m", "generator.cli"]
TIER_ROWS = {"district": 1_300_000, "city": 5_000_000, "province": 12_000_000}
TIER_COMMUNITIES = {"district": 300, "city": 3000, "province": 25000}


def measure(cmd: list[str], *, cwd: Path = REPO, env: dict | None = None) -> dict:
    """Run a child; its wall time, peak RSS (MB), CPU seconds and exit code."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=devnull, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
    return {
        "seconds": round(time.perf_counter() - start, 2),
        "peak_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "exit": proc.returncode,
        "stderr": err[-500:],
    }


def synth_available() -> bool:
    done = subprocess.run([*GONGZHI, "synth", "--help"], cwd=REPO, capture_output=True)
    return done.returncode == 0


def get_data(tier: str, workdir: Path, given: Path | None) -> Path:
    if given is not None:
        return given
    out = workdir / tier
    data = out / "data"
    if data.is_dir() and any((data / "cases").glob("*.*")):
        return data  # generated before: synth output is deterministic for a seed
    if synth_available():
        done = subprocess.run(
            [*GONGZHI, "synth", "--tier", tier, "--out", str(out), "--force", "--quiet"],
            cwd=REPO,
        )
        if done.returncode == 0 and data.is_dir():
            return data
    return generate_cases_only(tier, data)


def generate_cases_only(tier: str, data: Path) -> Path:
    """Without synth: case files with the contract's columns, and the ids they refer to."""
    import duckdb

    communities = TIER_COMMUNITIES[tier]
    rows = TIER_ROWS[tier]
    (data / "cases").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "data" / "datapackage.yaml", data / "datapackage.yaml")
    duckdb.sql(
        f"""
        COPY (
          WITH base AS (SELECT range AS i, (hash(range) >> 2)::BIGINT AS h FROM range({rows}))
          SELECT 'C' || lpad(i::VARCHAR, 12, '0') AS id,
            'c' || (h % {communities})::VARCHAR AS community,
            'c' || (h % {communities})::VARCHAR || '-' || lpad(((h >> 10) % 3 + 1)::VARCHAR, 2, '0') AS grid,
            (['网格员巡查','居民上报','12345热线','城市大脑感知','部门移交'])[(h >> 20) % 5 + 1] AS channel,
            (['环境卫生','市容秩序','物业管理','邻里纠纷','公共设施','安全隐患','民生服务','其他'])[(h >> 23) % 8 + 1] AS category,
            '子类' || ((h >> 26) % 20)::VARCHAR AS subcategory,
            strftime(TIMESTAMP '2025-01-01' + to_seconds((i * 2)::BIGINT), '%Y-%m-%dT%H:%M:%S') AS reported_at,
            strftime(TIMESTAMP '2025-01-01' + to_seconds((i * 2 + 600)::BIGINT), '%Y-%m-%dT%H:%M:%S') AS accepted_at,
            strftime(TIMESTAMP '2025-01-01' + to_seconds((i * 2 + 1200)::BIGINT), '%Y-%m-%dT%H:%M:%S') AS dispatched_at,
            strftime(TIMESTAMP '2025-01-01' + to_seconds((i * 2 + 259200)::BIGINT), '%Y-%m-%dT%H:%M:%S') AS due_at,
            CASE WHEN (h >> 30) % 10 < 8 THEN strftime(TIMESTAMP '2025-01-01' + to_seconds((i * 2 + 86400)::BIGINT), '%Y-%m-%dT%H:%M:%S') END AS closed_at,
            CASE WHEN (h >> 30) % 10 < 8 THEN '已办结' ELSE '处理中' END AS status,
            CASE WHEN (h >> 30) % 10 < 8 THEN (['网格','社区','镇街','区级'])[(h >> 34) % 4 + 1] END AS resolved_level,
            CASE WHEN (h >> 30) % 10 < 5 THEN (['满意','基本满意','不满意'])[(h >> 37) % 3 + 1] END AS satisfaction
          FROM base
        ) TO '{data / "cases" / "cases.csv"}' (HEADER, DELIMITER ',')
        """
    )
    ids = {"communities": [f"c{i}" for i in range(communities)]}
    ids_file(data).write_text(json.dumps(ids), encoding="utf-8")
    return data


CASES_ONLY = """
import json, sys
from pathlib import Path
from generator.casecheck import check_case_files
from generator.contract import load_contract

data = Path(sys.argv[1])
files = sorted(p for p in (data / "cases").iterdir() if p.suffix in (".csv", ".parquet"))
ids = json.loads(Path(sys.argv[2]).read_text())  # written beforehand, not timed
communities = set(ids["communities"])
grids = ids.get("grids") or {f"{c}-{g:02d}": c for c in communities for g in (1, 2, 3)}
import time
start = time.perf_counter()
rule = load_contract(data, check_with_frictionless=False).tables["cases"]
issues = check_case_files(files, rule, communities=communities, grids=grids, root=data.parent)
print(json.dumps({"seconds": time.perf_counter() - start, "issues": len(issues)}), file=sys.stderr)
sys.exit(1 if issues else 0)
"""


IDS = """
import json, sys
from pathlib import Path
from generator.validate import check
data = Path(sys.argv[1])
tables = check(data, cases=False, extra_checks=()).tables
ids = {"communities": [r["id"] for r in tables["communities"]],
       "grids": {r["id"]: r["community"] for r in tables["grids"]}}
Path(sys.argv[2]).write_text(json.dumps(ids))
"""


def ids_file(data: Path) -> Path:
    return data.parent / "bench-ids.json"


def write_ids(data: Path) -> Path:
    """The community and grid ids the case files refer to, read from the tier's YAML once."""
    path = ids_file(data)
    if not path.exists():
        subprocess.run([PYTHON, "-c", IDS, str(data), str(path)], cwd=REPO, check=True)
    return path


def count_rows(files: list[Path]) -> int:
    import duckdb

    con = duckdb.connect()
    total = 0
    for path in files:
        reader = "read_parquet(?)" if path.suffix == ".parquet" else "read_csv(?, all_varchar=true)"
        total += con.execute(f"SELECT count(*) FROM {reader}", [str(path)]).fetchone()[0]
    con.close()
    return total


def frictionless_slice(data: Path, workdir: Path, rows: int) -> tuple[Path, int]:
    """A resource descriptor for the first ``rows`` rows of the first CSV case file."""
    first = sorted((data / "cases").glob("*.csv"))[0]
    slice_path = workdir / "frictionless-slice.csv"
    with first.open("rb") as src, slice_path.open("wb") as dst:
        for number, line in enumerate(src):
            if number > rows:
                break
            dst.write(line)
    package = yaml.safe_load((data / "datapackage.yaml").read_text(encoding="utf-8"))
    cases = next(r for r in package["resources"] if r["name"] == "cases")
    schema = {k: v for k, v in cases["schema"].items() if k != "foreignKeys"}
    descriptor = {"name": "cases", "path": slice_path.name, "format": "csv", "schema": schema}
    resource = workdir / "frictionless-slice.resource.yaml"
    resource.write_text(yaml.safe_dump(descriptor, allow_unicode=True), encoding="utf-8")
    return resource, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", action="append", choices=sorted(TIER_ROWS), help="repeatable")
    parser.add_argument("--data", type=Path, help="an existing data folder (one tier only)")
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "gongzhi-bench"
    )
    parser.add_argument("--frictionless-rows", type=int, default=200_000)
    parser.add_argument(
        "--skip", action="append", default=[], choices=["validate", "yaml", "frictionless"]
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "validate.json")
    args = parser.parse_args(argv)
    tiers = args.tier or ["district"]
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    results.setdefault("tiers", {})
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
    }
    for tier in tiers:
        data = get_data(tier, args.workdir, args.data)
        files = sorted(p for p in (data / "cases").iterdir() if p.suffix in (".csv", ".parquet"))
        rows = count_rows(files)
        size_mb = sum(p.stat().st_size for p in files) / 1e6
        entry: dict = {
            "data": str(data),
            "case_rows": rows,
            "case_files": len(files),
            "case_mb": round(size_mb),
        }
        ids = write_ids(data)
        entry["load_average"] = os.getloadavg()
        cases = measure([PYTHON, "-c", CASES_ONLY, str(data), str(ids)])
        inner = json.loads(cases.pop("stderr").strip().splitlines()[-1])
        cases["checker_seconds"] = round(inner["seconds"], 2)  # without interpreter start-up
        cases["issues"] = inner["issues"]
        entry["cases"] = cases | {"rows_per_second": round(rows / cases["checker_seconds"])}
        if "validate" not in args.skip:
            entry["validate"] = measure([*GONGZHI, "validate", str(data)])
        if "yaml" not in args.skip:
            entry["yaml"] = measure([*GONGZHI, "validate", "--no-cases", str(data)])
        if "frictionless" not in args.skip:
            resource, slice_rows = frictionless_slice(data, args.workdir, args.frictionless_rows)
            exe = shutil.which("frictionless", path=str(Path(PYTHON).parent)) or "frictionless"
            fl = measure([exe, "validate", str(resource)], cwd=args.workdir)
            fl["rows"] = slice_rows
            fl["rows_per_second"] = round(slice_rows / fl["seconds"])
            fl["note"] = (
                f"first {slice_rows:,} rows of one file, foreign keys left out; rows/s extrapolated"
            )
            entry["frictionless"] = fl
            entry["speedup_vs_frictionless"] = round(
                entry["cases"]["rows_per_second"] / fl["rows_per_second"], 1
            )
        previous = results["tiers"].get(tier, {})
        for skipped in args.skip:  # keep the figures of an earlier run, saying so
            if skipped in previous and skipped not in entry:
                entry[skipped] = previous[skipped] | {"from_earlier_run": True}
                if skipped == "frictionless" and "speedup_vs_frictionless" in previous:
                    entry["speedup_vs_frictionless"] = round(
                        entry["cases"]["rows_per_second"]
                        / previous["frictionless"]["rows_per_second"],
                        1,
                    )
        results["tiers"][tier] = entry
        print_table(tier, entry)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\nwritten: {args.out}")
    return 0


def print_table(tier: str, entry: dict) -> None:
    print(
        f"\n{tier}: {entry['case_rows']:,} case rows in {entry['case_files']} files ({entry['case_mb']} MB)"
        f", load average {entry['load_average'][0]:.1f}"
    )
    print(f"{'run':<14}{'wall s':>9}{'cpu s':>9}{'peak MB':>10}{'rows/s':>12}  exit")
    print(
        "(cases: wall of the checker itself, without interpreter start-up; cpu and memory of the process)"
    )
    for name in ("cases", "validate", "yaml", "frictionless"):
        if name not in entry:
            continue
        run = entry[name]
        seconds = run.get("checker_seconds", run["seconds"])
        rate = f"{run['rows_per_second']:,}" if "rows_per_second" in run else "—"
        print(
            f"{name:<14}{seconds:>9.1f}{run['cpu_seconds']:>9.1f}{run['peak_mb']:>10.0f}{rate:>12}  {run['exit']}"
        )
    if "speedup_vs_frictionless" in entry:
        print(
            f"DuckDB case checker vs Frictionless: {entry['speedup_vs_frictionless']}× rows/s "
            f"(Frictionless on {entry['frictionless']['rows']:,} rows, extrapolated)"
        )


if __name__ == "__main__":
    sys.exit(main())
