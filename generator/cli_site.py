"""``gongzhi build`` and ``gongzhi serve``: build the portal, or preview it with live reload."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generator.cli import EXIT_CANNOT_RUN, EXIT_INVALID, EXIT_OK
from generator.issues import DataError, Issue


def register(subparsers: argparse._SubParsersAction) -> None:
    build = subparsers.add_parser(
        "build",
        help="校验数据并生成网站（失败时保留原网站）",
        description="校验 → 生成页面 → MkDocs 严格构建 → 搜索索引 → 原子替换输出文件夹。"
        "数据有错误时列出全部问题并以退出码 1 结束，原网站保持不变。",
    )
    build.add_argument("--data", default="data", help="数据文件夹（默认 data）")
    build.add_argument("--out", default=None, help="网站输出文件夹（默认 mkdocs.yml 中的 site_dir，即 site/）")
    build.add_argument("--config", default=None, help="MkDocs 配置文件（默认仓库中的 mkdocs.yml）")
    build.add_argument("--no-index", action="store_true", help="跳过搜索索引（仅用于调试）")
    build.add_argument("--engine", choices=("mkdocs", "zensical"), default="mkdocs",
                       help="把页面生成网站的引擎：mkdocs（默认）或 zensical（Material 团队的新引擎，读同一个 mkdocs.yml）")
    build.add_argument("--shards", type=int, default=None,
                       help="MkDocs 分几次运行（分片）后合成一个网站；默认按页数决定（超过 3000 页时每个处理器核一片）")
    build.add_argument("--executor", default="local",
                       help="分片在哪里运行：local（本机，默认）或 Dask 调度器地址，如 tcp://scheduler:8786")
    build.add_argument("--shard-index", type=int, default=None,
                       help="只构建第几个分片（从 0 数起，需同时给 --shards），输出一部分网站，由 gongzhi assemble 合成；用于并行的 CI 作业")
    build.set_defaults(handler=run_build)

    assemble = subparsers.add_parser(
        "assemble",
        help="把分别构建的分片合成一个网站，并建立搜索索引",
        description="把 gongzhi build --shards N --shard-index K 分别生成的各分片文件夹合成一个网站，"
        "加上网页编辑器并建立搜索索引，再原子替换输出文件夹；任何一步失败都保留原网站。",
    )
    assemble.add_argument("parts", nargs="+", help="各分片的输出文件夹")
    assemble.add_argument("--out", default=None, help="网站输出文件夹（默认 mkdocs.yml 中的 site_dir）")
    assemble.add_argument("--data", default="data", help="数据文件夹（默认 data），网页编辑器的配置由它生成")
    assemble.add_argument("--config", default=None, help="MkDocs 配置文件（默认仓库中的 mkdocs.yml）")
    assemble.set_defaults(handler=run_assemble)

    serve = subparsers.add_parser(
        "serve",
        help="本地预览网站，数据或内容变化时自动重建并刷新",
        description="在 127.0.0.1 上预览网站；data/、content/ 或模板变化时重新生成并自动刷新浏览器。",
    )
    serve.add_argument("--data", default="data", help="数据文件夹（默认 data）")
    serve.add_argument("--port", type=int, default=8000, help="端口（默认 8000）")
    serve.add_argument("--config", default=None, help="MkDocs 配置文件（默认仓库中的 mkdocs.yml）")
    serve.set_defaults(handler=run_serve)


def _issues_text(issues: list[Issue]) -> str:
    try:
        from generator.cli_validate import format_text
    except ImportError:  # pragma: no cover - the validator's CLI is part of the package
        return "\n".join(issue.to_text() for issue in issues)
    return format_text(issues)


def run_build(args: argparse.Namespace) -> int:
    from generator.build import DEFAULT_CONFIG, BuildError, build

    try:
        report = build(
            Path(args.data),
            Path(args.out) if args.out else None,
            config_file=Path(args.config) if args.config else DEFAULT_CONFIG,
            index=not args.no_index,
            engine=args.engine,
            shards=args.shards,
            executor=args.executor,
            shard_index=args.shard_index,
        )
    except DataError as exc:
        print(_issues_text(exc.issues), file=sys.stderr)
        print("数据有错误，未生成网站；原网站保持不变。", file=sys.stderr)
        return EXIT_INVALID
    except BuildError as exc:
        print(f"生成失败：{exc}", file=sys.stderr)
        print("原网站保持不变。", file=sys.stderr)
        return EXIT_CANNOT_RUN
    if report.warnings:
        print(_issues_text(report.warnings), file=sys.stderr)
    for note in report.index_notes:
        print(f"搜索索引提示：{note}", file=sys.stderr)
    if args.shard_index is not None:
        print(f"第 {args.shard_index} 个分片（共 {args.shards} 片）已生成：{report.site_dir}"
              f"（渲染 {report.mkdocs.pages.get('rendered', 0)} 页，沿用 {report.mkdocs.pages.get('reused', 0)} 页；"
              f"全部分片生成后用 gongzhi assemble 合成网站）")
        return EXIT_OK
    print(
        f"网站已生成：{report.site_dir}（页面：新写入或更新 {report.pages_written} 个，"
        f"未变 {report.pages_unchanged} 个（其中 {report.pages_fresh} 个的数据和模板都未变，未重新渲染），删除 {report.pages_deleted} 个；"
        f"{'已建立搜索索引' if report.indexed else '未建立搜索索引'}；{_stage_text(report)}）"
    )
    return EXIT_OK


def run_assemble(args: argparse.Namespace) -> int:
    from generator.build import DEFAULT_CONFIG, BuildError, assemble_site

    try:
        site, pages, indexed, notes = assemble_site(
            [Path(p) for p in args.parts], Path(args.out) if args.out else None, data_dir=Path(args.data),
            config_file=Path(args.config) if args.config else DEFAULT_CONFIG,
        )
    except BuildError as exc:
        print(f"合成失败：{exc}", file=sys.stderr)
        print("原网站保持不变。", file=sys.stderr)
        return EXIT_CANNOT_RUN
    for note in notes:
        print(f"搜索索引提示：{note}", file=sys.stderr)
    print(f"网站已合成：{site}（{len(args.parts)} 个分片，{pages} 个页面；{'已建立搜索索引' if indexed else '未建立搜索索引'}）")
    return EXIT_OK


def _stage_text(report) -> str:
    """"共 X 秒：…", the stages in order; what ran while MkDocs did is named in its brackets."""
    parts = []
    for key, seconds in report.timings.items():
        name = "Zensical" if key == "mkdocs" and report.engine == "zensical" else _STAGE_NAMES.get(key, key)
        text = f"{name} {seconds:.1f} 秒"
        if key == "mkdocs":
            beside = [f"{_STAGE_NAMES.get(k, k)} {v:.1f} 秒" for k, v in report.beside_mkdocs.items() if v >= 0.05]
            if report.mkdocs is not None and report.mkdocs.waited_s >= 0.05:
                beside.append(f"MkDocs 等候页面 {report.mkdocs.waited_s:.1f} 秒")
            pages = report.mkdocs.pages if report.mkdocs is not None else {}
            if pages.get("shards", 1) > 1:
                text += f"（分 {pages['shards']} 片并行）"
            if pages.get("reused"):
                text += f"（渲染 {pages.get('rendered', 0)} 页，沿用上次网站中未变的 {pages['reused']} 页）"
            if beside:
                text += f"（其间同时进行：{'，'.join(beside)}）"
        parts.append(text)
    return f"共 {report.wall_s:.1f} 秒：{'，'.join(parts)}"


_STAGE_NAMES = {
    "validate": "校验",
    "config": "读取配置",
    "derive": "准备",
    "plan": "整理页面清单",
    "stats": "等候事件统计",
    "render": "生成页面",
    "mkdocs": "MkDocs",
    "check": "等候事件记录校验",  # it runs beside MkDocs; this is what MkDocs did not cover
    "admin": "网页编辑器",
    "index": "搜索索引",
    "swap": "替换",
}


def run_serve(args: argparse.Namespace) -> int:
    from generator.build import DEFAULT_CONFIG
    from generator.serve import ServeError, serve

    try:
        serve(
            Path(args.data),
            port=args.port,
            config_file=Path(args.config) if args.config else DEFAULT_CONFIG,
            log=lambda message: print(message, file=sys.stderr, flush=True),
        )
    except ServeError as exc:
        print(f"无法预览：{exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    return EXIT_OK
