"""``gongzhi index``: (re)build the search index of an already built site.

``gongzhi build`` runs the same stage as its last step; this command is for a site built with
``--no-index`` or by another engine (the generated docs folder also builds under engines that
run no MkDocs plugins), and for measuring the stage on its own.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generator.cli import EXIT_CANNOT_RUN, EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "index",
        help="为已生成的网站建立搜索索引（Pagefind，中文分词与拼音）",
        description="为已生成的网站建立搜索索引：只索引正文（data-pagefind-body），"
        "按街道分区（全区公共页面一个索引，街道或几个相邻街道一个索引），另有地名（村社、街道）查找表；"
        "索引写入网站下的 pagefind/，先在旁边建好再替换。gongzhi build 已包含这一步。",
    )
    parser.add_argument("--site", default="site", help="已生成的网站文件夹（默认 site）")
    parser.add_argument(
        "--shard-pages",
        type=int,
        default=None,
        metavar="页数",
        help="每个街道分区的索引至多多少页（默认 2000，或环境变量 GONGZHI_SEARCH_SHARD_PAGES）；"
        "不超过它的网站只建一个索引（默认：不超过 5000 页的网站只建一个索引）",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from generator.search import SearchIndexError, index_site

    try:
        report = index_site(Path(args.site), shard_pages=args.shard_pages)
    except SearchIndexError as exc:
        print(f"无法建立搜索索引：{exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    languages = "、".join(f"{lang} {count} 页" for lang, count in sorted(report.languages.items()))
    print(
        f"搜索索引已建立：{report.bundle_dir}（{report.pages} 页：{languages or '无'}；"
        f"{report.bundle_files} 个文件，{report.bundle_bytes / 1024 / 1024:.1f} MB；"
        f"用时 {report.seconds:.1f} 秒）"
    )
    areas = report.shards[1:]
    if areas:
        print(
            f"分区：全区公共页面 {report.shards[0].pages} 页，另有 {len(areas)} 个街道分区"
            f"（每个 {min(s.pages for s in areas)}–{max(s.pages for s in areas)} 页）；"
            f"地名 {report.places} 个"
        )
    for warning in report.warnings:
        print(f"警告：{warning}", file=sys.stderr)
    return EXIT_OK
