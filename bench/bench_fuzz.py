"""The long fuzz run: a million generated inputs through every input path, counting tracebacks.

Each worker process takes a share of the inputs, round-robin over the targets of
``tests/fuzzing.py`` by weight (fast targets more often), each input seeded by its number so any
crash can be replayed with ``--replay TARGET:SEED``. Every input runs under a time limit
(``--seconds``, a hang counts as a crash) and the worker under an address-space limit
(``--memory-mb``, a MemoryError counts as a crash). Crashing inputs are saved under
``bench/out/fuzz-crashes/``; the counts go to ``bench/results/fuzz.json``.

    .venv/bin/python bench/bench_fuzz.py --inputs 1000000 --workers 2
    .venv/bin/python bench/bench_fuzz.py --replay form_yaml:1234
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

# how often each target is drawn, against its cost (ms per input on this machine)
WEIGHTS = {
    "intake_body": 40, "responses_csv": 15, "form_yaml": 15, "entity_yaml": 20,
    "validate": 6, "case_csv": 1, "cli_validate": 0.25, "intake_raw": 8,
    "cli_stats": 0.25, "cli_ingest": 0.25,
}


def schedule(total: int) -> list[tuple[str, int]]:
    """(target, count) pairs summing to ``total``, in proportion to ``WEIGHTS``."""
    weight = sum(WEIGHTS.values())
    counts = {name: int(total * w / weight) for name, w in WEIGHTS.items()}
    counts["intake_body"] += total - sum(counts.values())
    return list(counts.items())


def signature(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    frames = traceback.extract_tb(cause.__traceback__)
    ours = [f for f in frames if "/generator/" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(cause).__name__} at {where}: {str(exc)[:120]}"


def worker(args: tuple[int, int, list[tuple[str, int]], float, int, str]) -> dict:
    index, workers, plan, seconds, memory_mb, out_dir = args
    import random

    import fuzzing

    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.nice(5)
    done: collections.Counter[str] = collections.Counter()
    crashes: dict[str, dict] = {}
    elapsed: collections.Counter[str] = collections.Counter()
    for name, count in plan:
        target = fuzzing.TARGETS[name]
        started = time.monotonic()
        for seed in range(index, count, workers):
            item = target.generate(random.Random(seed))
            try:
                fuzzing.guarded(target, item, seconds)
            except fuzzing.Crash as exc:
                key = f"{name}: {signature(exc)}"
                entry = crashes.setdefault(key, {"count": 0, "seeds": []})
                entry["count"] += 1
                if len(entry["seeds"]) < 5:
                    entry["seeds"].append(seed)
                    if isinstance(item, bytes):
                        (Path(out_dir) / f"{name}-{seed}.bin").write_bytes(item)
            except MemoryError:
                key = f"{name}: MemoryError"
                entry = crashes.setdefault(key, {"count": 0, "seeds": []})
                entry["count"] += 1
                entry["seeds"] = (entry["seeds"] + [seed])[:5]
            done[name] += 1
        elapsed[name] += time.monotonic() - started
    fuzzing.close_intake()
    fuzzing.close_raw_server()
    fuzzing.workspace().close()
    return {"done": dict(done), "crashes": crashes, "seconds": dict(elapsed),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def replay(spec: str, seconds: float) -> int:
    import random

    import fuzzing

    name, seed = spec.split(":")
    target = fuzzing.TARGETS[name]
    item = target.generate(random.Random(int(seed)))
    print(f"{name} seed {seed}: {fuzzing.describe(item)}")
    try:
        fuzzing.guarded(target, item, seconds)
    except fuzzing.Crash:
        traceback.print_exc()
        return 1
    print("ok: ended as issues or a Chinese refusal")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0, help="time limit per input")
    parser.add_argument("--memory-mb", type=int, default=3072, help="address-space limit per worker")
    parser.add_argument("--replay", metavar="TARGET:SEED")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fuzz.json")
    args = parser.parse_args()
    if args.replay:
        return replay(args.replay, args.seconds)
    crash_dir = ROOT / "bench" / "out" / "fuzz-crashes"
    crash_dir.mkdir(parents=True, exist_ok=True)
    plan = schedule(args.inputs)
    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        parts = pool.map(worker, [(i, args.workers, plan, args.seconds, args.memory_mb, str(crash_dir))
                                  for i in range(args.workers)])
    wall = time.monotonic() - started
    done: collections.Counter[str] = collections.Counter()
    seconds: collections.Counter[str] = collections.Counter()
    crashes: dict[str, dict] = {}
    for part in parts:
        done.update(part["done"])
        seconds.update(part["seconds"])
        for key, entry in part["crashes"].items():
            merged = crashes.setdefault(key, {"count": 0, "seeds": []})
            merged["count"] += entry["count"]
            merged["seeds"] = (merged["seeds"] + entry["seeds"])[:5]
    total = sum(done.values())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    result = {
        "commit": commit, "inputs": total, "crashing_inputs": sum(c["count"] for c in crashes.values()),
        "distinct_crashes": len(crashes), "wall_seconds": round(wall, 1), "workers": args.workers,
        "per_target": {name: {"inputs": done[name], "ms_per_input": round(1000 * seconds[name] / done[name], 2)}
                       for name in done if done[name]},
        "crashes": crashes, "peak_rss_mb": [round(p["peak_rss_mb"]) for p in parts],
        "limits": {"seconds_per_input": args.seconds, "memory_mb_per_worker": args.memory_mb},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", "utf-8")
    print(f"{total:,} inputs in {wall:.0f} s on {args.workers} workers: "
          f"{result['crashing_inputs']} crashing ({len(crashes)} distinct)")
    for name in done:
        print(f"  {name:14} {done[name]:>9,}  {result['per_target'][name]['ms_per_input']:.2f} ms/input")
    for key, entry in sorted(crashes.items(), key=lambda kv: -kv[1]["count"]):
        print(f"  CRASH ×{entry['count']}: {key}  (replay: --replay {key.split(':')[0]}:{entry['seeds'][0]})")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
