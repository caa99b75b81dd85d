"""Benchmark ``gongzhi forms ingest``: rows per second checked and aggregated, per encoding.

Writes a synthetic export of the sample parking survey (data/forms/xinfeng-parking-survey.yaml:
choices, a multiple choice, a rating, free text) with N rows as UTF-8 with BOM and as GBK, then
times reading + checking every row and computing the aggregates, the library calls behind
the command. Nothing in data/ is touched.

    .venv/bin/python bench/bench_forms_ingest.py                  # 200,000 rows
    .venv/bin/python bench/bench_forms_ingest.py --rows 50000 --json bench/out/forms_ingest.json

A form collects hundreds to a few thousand responses per round; 200,000 rows is the volume
of a city-wide survey, the largest a community portal would publish.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator.forms.definitions import load_forms  # noqa: E402
from generator.forms.responses import aggregate, read_responses  # noqa: E402
from generator.forms.rules import response_columns  # noqa: E402

FORM_ID = "xinfeng-parking-survey"


def synthesise(rows: int, seed: int) -> str:
    form = {f.id: f for f in load_forms(ROOT / "data")[0]}[FORM_ID]
    rnd = random.Random(seed)
    fields = {f.name: f for f in form.fields}
    problems = [o.value for o in fields["problem"].options]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(response_columns(form))
    start = dt.datetime(2026, 9, 1, 8, 0)
    for i in range(rows):
        when = start + dt.timedelta(seconds=rnd.randint(0, 44 * 86400))
        picked = sorted(rnd.sample(problems, rnd.randint(1, 3)), key=problems.index)
        writer.writerow(
            [
                f"R{i:09d}",
                when.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
                rnd.choice([o.value for o in fields["vehicles"].options]),
                "|".join(picked),
                rnd.choice([o.value for o in fields["shared_parking"].options]),
                str(rnd.randint(1, 5)),
                rnd.choice(["", "", "建议晚上开放学校操场停车", "希望增加充电桩"]),
            ]
        )
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    form = {f.id: f for f in load_forms(ROOT / "data")[0]}[FORM_ID]
    text = synthesise(args.rows, args.seed)
    figures: dict[str, object] = {
        "rows": args.rows,
        "python": platform.python_version(),
        "runs": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for encoding, codec in (("UTF-8-BOM", "utf-8-sig"), ("GBK", "gbk")):
            path = Path(tmp) / f"responses-{codec}.csv"
            path.write_bytes(text.encode(codec))
            started = time.perf_counter()
            result = read_responses(form, path)
            checked = time.perf_counter()
            results = aggregate(form, result.rows, dt.date(2026, 10, 20))
            finished = time.perf_counter()
            assert result.encoding == encoding and not result.issues and results.n == args.rows
            run = {
                "megabytes": round(path.stat().st_size / 1e6, 1),
                "check_seconds": round(checked - started, 2),
                "aggregate_seconds": round(finished - checked, 2),
                "rows_per_second": round(args.rows / (finished - started)),
            }
            figures["runs"][encoding] = run  # type: ignore[index]
            print(
                f"{encoding}: {args.rows:,} 行（{run['megabytes']} MB），逐行校验 {run['check_seconds']} 秒，"
                f"汇总 {run['aggregate_seconds']} 秒，合计每秒 {run['rows_per_second']:,} 行"
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
