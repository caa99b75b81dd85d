"""``gongzhi stats`` and ``gongzhi report new|publish``: case statistics and quarterly reports."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import unicodedata
from pathlib import Path
from typing import Any

from generator.cli import EXIT_CANNOT_RUN, EXIT_INVALID, EXIT_OK
from generator.metrics import METRICS, Level, Period

TEXT_COLUMNS = (
    ("received", "上报"), ("due", "应结案"), ("completion_rate", "办结率"),
    ("on_time_rate", "按期办结率"), ("grid_resolution_rate", "网格内"),
    ("community_resolution_rate", "社区内"), ("street_resolution_rate", "镇街内"),
    ("satisfaction_rate", "满意率"), ("answered", "作答数"), ("handling_days_median", "时长中位数"),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    stats = subparsers.add_parser(
        "stats",
        help="统计事件记录：办结率、按期办结率、解决层级、满意率等",
        description="由 data/cases/ 中的事件记录统计各层级、各统计期的指标（口径见网站“指标说明”页）。"
        "退出码：0 成功，1 数据有错误，2 无法运行。",
    )
    stats.add_argument("--data", default="data", help="数据文件夹（默认 data）")
    stats.add_argument("--level", choices=[lv.value for lv in Level], default="district",
                       help="层级：grid 网格、community 村社、street 镇街、district 全区（默认）")
    stats.add_argument("--period", help="统计期：2026Q3（季度）或 2026（年度）；默认列出全部季度和年度")
    stats.add_argument("--format", choices=("text", "csv", "json"), default="text",
                       help="输出格式：text 表格（默认）、csv、json")
    stats.add_argument("--unsuppressed", action="store_true",
                       help="输出未经小数保护的原始件数（仅供内部核对，不得公开）；"
                       "默认与网站相同：网格件数和类别、渠道件数 1—4 件及补充隐去的数不输出")
    stats.set_defaults(handler=run_stats)

    report = subparsers.add_parser(
        "report", help="季度报告：生成草稿、发布（冻结数字）",
        description="季度报告保存在 data/reports/2026-Q3.yaml。先 new 生成草稿，填写正文后 publish 发布。",
    )
    actions = report.add_subparsers(dest="action", metavar="操作")
    new = actions.add_parser("new", help="生成季度报告草稿", description="生成 data/reports/<季度>.yaml 草稿。")
    new.add_argument("period", help="季度，如 2026Q3")
    new.add_argument("--data", default="data", help="数据文件夹（默认 data）")
    new.set_defaults(handler=run_report_new)
    publish = actions.add_parser(
        "publish", help="发布季度报告：冻结数字；再次发布时记录更正",
        description="计算并冻结报告数字（写入 <季度>.figures.json）。报告已发布而事件记录有变化时，"
        "再次发布会记录“更正”：哪些数字由什么改为什么、何时更正。",
    )
    publish.add_argument("period", help="季度，如 2026Q3")
    publish.add_argument("--data", default="data", help="数据文件夹（默认 data）")
    publish.add_argument("--note", default="", help="更正说明（再次发布时显示在“更正”中）")
    publish.add_argument("--allow-incomplete", action="store_true",
                         help="季度尚未结束（事件记录未到季末）时也发布")
    publish.set_defaults(handler=run_report_publish)
    report.set_defaults(handler=lambda args: _report_help(report))


def _report_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_CANNOT_RUN


def _load(data: str):
    """The validated dataset, or an exit code after printing the problems."""
    from generator.issues import DataError
    from generator.validate import load_dataset

    path = Path(data)
    if not path.is_dir():
        print(f"无法运行：找不到数据文件夹 {data}", file=sys.stderr)
        return None, EXIT_CANNOT_RUN
    try:
        return load_dataset(path), EXIT_OK
    except DataError as exc:
        for issue in exc.issues[:50]:
            print(issue.to_text(), file=sys.stderr)
        if len(exc.issues) > 50:
            print(f"……另有 {len(exc.issues) - 50} 个问题，运行 gongzhi validate 查看全部。", file=sys.stderr)
        print(f"{exc}。请先修正数据（gongzhi validate {data}）。", file=sys.stderr)
        return None, EXIT_INVALID


def _compute(dataset):
    from generator.stats import StatsError, stats_for_dataset

    try:
        return stats_for_dataset(dataset), EXIT_OK
    except StatsError as exc:
        print(f"无法统计：{exc}", file=sys.stderr)
        return None, EXIT_CANNOT_RUN


def _names(dataset, level: Level) -> dict[str, str]:
    if level is Level.GRID:
        return {gid: f"{dataset.communities[g.community].name if g.community in dataset.communities else g.community}{g.name}"
                for gid, g in dataset.grids.items()}
    if level is Level.COMMUNITY:
        return {cid: c.name for cid, c in dataset.communities.items()}
    if level is Level.STREET:
        return {sid: s.name for sid, s in dataset.streets.items()}
    return {dataset.district.code: dataset.district.name}


SUPPRESSED_HEADER = "已作小数保护，与网站公布的口径相同（“<5”为 1—4 件，“*”为防止反推而补充隐去的数；见指标说明）"
UNSUPPRESSED_HEADER = "未作小数保护的原始件数：仅供内部核对，不得公开或转发"
GRID_YEARS_REFUSED = (
    "网格的年度数字等于四个季度之和，与季度数字一起就能反推出被隐去的数，所以作小数保护时"
    "网格层级只列季度。需要网格年度原始件数的，请加 --unsuppressed（仅供内部核对）。"
)


def _grid_views(stats, dataset, period: Period) -> dict[str, Any]:
    """Grid id → its view, protected community by community exactly as on the site."""
    from generator.stats import grid_views

    views = {}
    for community in dataset.communities.values():
        views.update(zip((g.id for g in community.grids), grid_views(stats, community.grids, period), strict=True))
    return views


def _split_text(pairs, suppressed: bool, limit: int | None = None) -> str:
    from generator.disclosure import protect_breakdown

    marks = protect_breakdown(pairs) if suppressed else {}
    shown = list(pairs)[:limit] if limit else list(pairs)
    return "、".join(f"{n} {marks.get(n, c)}" for n, c in shown)


def stats_rows(stats, dataset, level: Level, periods: list[Period], suppressed: bool = True) -> list[dict[str, Any]]:
    """One record per unit and period: every metric, plus changes, ready for CSV/JSON.

    ``suppressed`` (the default) publishes what the site publishes: at grid level the figures
    of the site's grid table (``stats.grid_views``: small counts and their complements marked,
    other counts and rates on a hidden or small base left out), no changes and no splits;
    category and channel splits only for the district, small cells hidden.
    """
    from generator.disclosure import MARKS
    from generator.stats import change_between

    names = _names(dataset, level)
    grid_level = suppressed and level is Level.GRID
    rows = []
    for period in periods:
        kpis = sorted(stats.units(level, period), key=lambda k: k.unit)
        views = _grid_views(stats, dataset, period) if grid_level else {}
        for kpi in kpis:
            row: dict[str, Any] = {"level": level.value, "unit": kpi.unit, "name": names.get(kpi.unit, kpi.unit),
                                   "period": period.key, "complete": stats.is_complete(period)}
            view = views.get(kpi.unit)
            for metric in METRICS:
                value = kpi.value(metric.key)
                value = round(value, 6) if isinstance(value, float) else value
                if grid_level:
                    figure = view.figures[metric.key] if view else None
                    if figure is None:  # a grid no community lists: nothing of it is published
                        value = None
                    elif figure.suppressed:
                        value = figure.text if figure.text in MARKS else None
                row[metric.key] = value
            splits = not suppressed or level is Level.DISTRICT
            row["top_categories"] = _split_text(kpi.categories, suppressed, 3) if splits else ""
            row["channels"] = _split_text(kpi.channels, suppressed) if splits else ""
            previous, year_before = stats.previous(kpi), stats.year_before(kpi)
            for key in ("received", "on_time_rate", "grid_resolution_rate", "satisfaction_rate"):
                row[f"{key}_vs_previous"] = "" if grid_level else change_between(key, kpi, previous).text
                row[f"{key}_vs_year_before"] = "" if grid_level else change_between(key, kpi, year_before).text
            rows.append(row)
    return rows


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    space = " " * max(0, width - _width(text))
    return space + text if right else text + space


def _shown(key: str, value: Any) -> str:
    from generator.stats import format_metric

    if isinstance(value, str):  # a mark: "<5" or "*"
        return value
    return format_metric(key, value).replace(" 天", "天")


def run_stats(args: argparse.Namespace) -> int:
    dataset, code = _load(args.data)
    if dataset is None:
        return code
    level = Level(args.level)
    if args.period:
        try:
            periods = [Period.parse(args.period)]
        except ValueError as exc:
            print(f"无法运行：{exc}", file=sys.stderr)
            return EXIT_CANNOT_RUN
    else:
        periods = None
    stats, code = _compute(dataset)
    if stats is None:
        return code
    if not stats.quarters:
        print("没有事件记录：data/cases/ 中没有 CSV 或 Parquet 文件。", file=sys.stderr)
        return EXIT_OK
    suppressed = not args.unsuppressed
    if suppressed and level is Level.GRID:
        if periods is not None and not periods[0].is_quarter:
            print(f"无法运行：{GRID_YEARS_REFUSED}", file=sys.stderr)
            return EXIT_CANNOT_RUN
        periods = periods or list(stats.quarters)
    if periods is None:
        periods = [*stats.quarters, *stats.years]
    rows = stats_rows(stats, dataset, level, periods, suppressed)
    header_note = SUPPRESSED_HEADER if suppressed else UNSUPPRESSED_HEADER
    out = sys.stdout
    if args.format == "json":
        json.dump({"as_of": stats.as_of.isoformat() if stats.as_of else None, "level": level.value,
                   "suppressed": suppressed, "note": header_note,
                   "metrics": [{"key": m.key, "label": m.label, "definition": m.definition} for m in METRICS],
                   "rows": rows}, out, ensure_ascii=False, indent=1)
        out.write("\n")
        return EXIT_OK
    if args.format == "csv":
        print(header_note, file=sys.stderr)  # stdout stays plain CSV; the note goes beside it
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return EXIT_OK
    cut = stats.as_of.strftime("%Y-%m-%d %H:%M") if stats.as_of else "—"
    print(f"{level.label}事件统计（数据截至 {cut}；口径见网站“指标说明”）")
    print(header_note)
    if not rows:
        print(f"{'、'.join(p.label for p in periods)}没有事件记录。")
        return EXIT_OK
    header = ["名称", "统计期", *(label for _, label in TEXT_COLUMNS)]
    table = [header]
    for row in rows:
        period = Period.parse(row["period"])
        table.append([row["name"], period.short_label + ("" if row["complete"] else "*"),
                      *(_shown(key, row[key]) for key, _ in TEXT_COLUMNS)])
    widths = [max(_width(r[i]) for r in table) for i in range(len(header))]
    for n, r in enumerate(table):
        print("  ".join(_pad(cell, widths[i], i >= 2 and n > 0 or i >= 2) for i, cell in enumerate(r)))
    if any(not row["complete"] for row in rows):
        print("* 统计期尚未结束，为截至数据日期的阶段数字。")
    return EXIT_OK


def run_report_new(args: argparse.Namespace) -> int:
    from generator.reports import ReportError, new_report

    try:
        period = Period.parse(args.period)
    except ValueError as exc:
        print(f"无法运行：{exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    dataset, code = _load(args.data)
    if dataset is None:
        return code
    try:
        path = new_report(Path(args.data), period, dataset)
    except ReportError as exc:
        print(f"无法运行：{exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    print(f"已生成草稿 {path}。填写各节正文后运行 gongzhi report publish {period.key} 发布；草稿不会出现在网站上。")
    return EXIT_OK


def run_report_publish(args: argparse.Namespace) -> int:
    from generator.reports import ReportError, publish_report

    try:
        period = Period.parse(args.period)
    except ValueError as exc:
        print(f"无法运行：{exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    if not period.is_quarter:
        print(f"无法运行：季度报告的统计期应是季度，如 {period.year}Q3。", file=sys.stderr)
        return EXIT_CANNOT_RUN
    dataset, code = _load(args.data)
    if dataset is None:
        return code
    stats, code = _compute(dataset)
    if stats is None:
        return code
    try:
        result = publish_report(Path(args.data), period, dataset, stats, note=args.note,
                                allow_incomplete=args.allow_incomplete)
    except ReportError as exc:
        print(f"未发布：{exc}", file=sys.stderr)
        return EXIT_INVALID
    if result.kind == "published":
        print(f"已发布{period.label}报告，数字已冻结在 {result.figures_file}。请提交这两个文件。")
    elif result.kind == "unchanged":
        print(f"{period.label}报告已发布过，数字没有变化，无需更正。")
    else:
        print(f"{period.label}报告已重新发布，以下 {len(result.changes)} 项数字有变化，将以“更正”显示：")
        for change in result.changes:
            print(f"  {change['scope']} · {change['metric']}：{change['old']} → {change['new']}")
    return EXIT_OK
