"""Measure ``gongzhi synth`` at the scale tiers: wall time, peak memory, files and bytes.

Each tier runs in its own process so its peak resident memory can be read on its own.

    .venv/bin/python bench/synth_tiers.py                       # district
    .venv/bin/python bench/synth_tiers.py district city province --out /tmp/gongzhi-synth
    .venv/bin/python bench/synth_tiers.py district --format parquet --keep

The output folders are removed afterwards unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def run(tier: str, out: Path, fmt: str, seed: int) -> dict[str, float | int | str]:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "generator.cli", "synth", "--tier", tier, "--out", str(out),
         "--seed", str(seed), "--format", fmt, "--force", "--quiet"],
        cwd=ROOT, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    yaml_files, yaml_bytes = _size(out / "data") if (out / "data").is_dir() else (0, 0)
    case_files, case_bytes = _size(out / "data" / "cases")
    return {
        "tier": tier,
        "seconds": seconds,
        "peak_mb": peak_kb / 1024,  # the largest child so far: run tiers smallest first
        "yaml_files": yaml_files - case_files,
        "yaml_mb": (yaml_bytes - case_bytes) / 1e6,
        "case_mb": case_bytes / 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tiers", nargs="*", default=["district"])
    parser.add_argument("--out", default="/tmp/gongzhi-synth", help="parent folder for the tiers")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the generated folders")
    args = parser.parse_args()
    rows = []
    for tier in args.tiers:
        out = Path(args.out) / tier
        rows.append(run(tier, out, args.format, args.seed))
        r = rows[-1]
        print(
            f"{r['tier']:<9} {r['seconds']:7.1f} s  peak {r['peak_mb']:7.0f} MB  "
            f"YAML {r['yaml_files']:>8,} files {r['yaml_mb']:7.1f} MB  cases {r['case_mb']:8.1f} MB ({args.format})",
            flush=True,
        )
        if not args.keep:
            shutil.rmtree(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
