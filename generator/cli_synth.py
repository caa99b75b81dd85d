"""``gongzhi synth``: deterministic synthetic data at the scale tiers, and the sample's case records."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from generator.cli import EXIT_CANNOT_RUN, EXIT_OK
from generator.synth import (
    SAMPLE_CASE_ROWS,
    SAMPLE_SEED,
    TIERS,
    SynthError,
    synthesize,
    write_sample_cases,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    tiers = "；".join(f"{t.name}：{t.description}" for t in TIERS.values())
    parser = subparsers.add_parser(
        "synth",
        help="生成确定性的合成数据（性能测试用），或重新生成示例事件记录",
        description="按规模档生成完整的数据文件夹（与编辑者的目录结构一致，附数据契约），"
        f"同一随机种子总得到相同的字节。规模档：{tiers}。"
        "--tier sample 按 data/ 中示例村社的网格重新生成 data/cases/ 下的示例事件记录。",
    )
    parser.add_argument("--tier", required=True, choices=(*TIERS, "sample"), help="规模档")
    parser.add_argument(
        "--out",
        help="输出文件夹（默认 synth/<规模档>；数据写在其中的 data/ 下）。--tier sample 时为数据文件夹，默认 data",
    )
    parser.add_argument("--seed", type=int, help=f"随机种子（默认 1；sample 默认 {SAMPLE_SEED}）")
    parser.add_argument(
        "--format", choices=("csv", "parquet"), default="csv", help="事件记录的文件格式（默认 csv）"
    )
    parser.add_argument(
        "--force", action="store_true", help="输出文件夹是上次 synth 生成的时，先删除再重新生成"
    )
    parser.add_argument("--rows", type=int, help="事件记录总条数（默认按规模档）")
    parser.add_argument("--quiet", action="store_true", help="只输出最后的汇总")
    parser.set_defaults(handler=run_synth)


def _say(text: str) -> None:
    print(text, flush=True)


def run_synth(args: argparse.Namespace) -> int:
    progress = None if args.quiet else _say
    if args.rows is not None and args.rows < 0:
        print("无法运行：--rows 不能为负数。", file=sys.stderr)
        return EXIT_CANNOT_RUN
    started = time.perf_counter()
    try:
        if args.tier == "sample":
            if args.format != "csv":
                print("无法运行：示例事件记录只生成 CSV（编辑者用表格软件打开）。", file=sys.stderr)
                return EXIT_CANNOT_RUN
            data_dir = Path(args.out or "data")
            summary = write_sample_cases(
                data_dir,
                seed=SAMPLE_SEED if args.seed is None else args.seed,
                rows=SAMPLE_CASE_ROWS if args.rows is None else args.rows,
                progress=progress,
            )
            print(
                f"已生成示例事件记录：{summary.rows:,} 条，{len(summary.files)} 个文件，"
                f"{summary.bytes / 1e6:.1f} MB，用时 {summary.seconds:.1f} 秒（{data_dir / 'cases'}）"
            )
            return EXIT_OK
        tier = TIERS[args.tier]
        if args.rows is not None:
            from dataclasses import replace

            tier = replace(tier, case_rows=args.rows)
        out = Path(args.out or f"synth/{tier.name}")
        seed = 1 if args.seed is None else args.seed
        result = synthesize(
            tier, out, seed=seed, fmt=args.format, force=args.force, progress=progress
        )
    except SynthError as exc:
        print(f"无法运行：{exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    total = time.perf_counter() - started
    counts = result.counts
    print(
        f"完成：{tier.name} 规模档，用时 {total:.1f} 秒"
        f"（YAML {result.yaml_seconds:.1f} 秒，事件记录 {result.cases.seconds:.1f} 秒）。\n"
        f"  镇街 {counts['streets']:,}，村社 {counts['communities']:,}，网格 {counts['grids']:,}，"
        f"组织 {counts['organisations']:,}，议事组织 {counts['councils']:,}，会议 {counts['meetings']:,}，"
        f"决议 {counts['decisions']:,}，项目 {counts['projects']:,}，评议 {counts['evaluations']:,}\n"
        f"  YAML {result.yaml_files:,} 个文件，{result.yaml_bytes / 1e6:.1f} MB；"
        f"事件记录 {result.cases.rows:,} 条，{len(result.cases.files)} 个文件，"
        f"{result.cases.bytes / 1e6:.1f} MB（{args.format}）\n"
        f"  校验：gongzhi validate {out / 'data'}"
    )
    return EXIT_OK
