"""``gongzhi forms``: list the forms, print a form's response schema, ingest exported responses."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from generator.cli import EXIT_CANNOT_RUN, EXIT_INVALID, EXIT_OK
from generator.issues import Issue, Severity


def register(subparsers: argparse._SubParsersAction) -> None:
    forms = subparsers.add_parser(
        "forms",
        help="参与表单：列出表单、查看回复数据结构、导入回复并生成汇总结果",
        description="参与表单的工具。表单定义在 data/forms/*.yaml，汇总结果写入 data/forms/_results/。",
    )
    sub = forms.add_subparsers(dest="forms_command", metavar="子命令")

    listing = sub.add_parser(
        "list", help="列出全部表单及其状态", description="列出全部表单及其状态。"
    )
    listing.add_argument("--data", default="data", help="数据文件夹（默认 data）")
    listing.add_argument("--today", help="按此日期判断状态（YYYY-MM-DD，默认今天）")
    listing.set_defaults(handler=run_list)

    schema = sub.add_parser(
        "schema",
        help="输出表单回复的数据结构",
        description="输出表单回复文件的 Table Schema（默认）、JSON Schema 或列名。"
        "gongzhi intake export 导出的 CSV 与 gongzhi forms ingest 读取的 CSV 都用这些列。",
    )
    schema.add_argument("form_id", metavar="FORM_ID", help="表单编号，即 data/forms/ 中的文件名")
    schema.add_argument(
        "--kind",
        choices=("table", "json", "columns"),
        default="table",
        help="table：Frictionless Table Schema；json：JSON Schema；columns：CSV 列名",
    )
    schema.add_argument("--data", default="data", help="数据文件夹（默认 data）")
    schema.set_defaults(handler=run_schema)

    ingest = sub.add_parser(
        "ingest",
        help="校验导出的回复 CSV，写入汇总结果",
        description="逐行校验导出的回复文件（自动识别 UTF-8、带 BOM 的 UTF-8 和 GBK 编码），"
        "通过后计算汇总结果（各选项人数、平均分、回复数）写入 data/forms/_results/<表单编号>.json，"
        "由表单页公布。文字意见和个人信息从不汇总；不足 5 份回复的组不公布。"
        "有错误的行时默认不写入任何文件。退出码：0 成功，1 有错误，2 无法运行。",
    )
    ingest.add_argument("form_id", metavar="FORM_ID", help="表单编号")
    ingest.add_argument("file", metavar="FILE.csv", help="导出的回复文件")
    ingest.add_argument("--data", default="data", help="数据文件夹（默认 data）")
    ingest.add_argument(
        "--out", help="汇总结果写到此文件（默认 data/forms/_results/<表单编号>.json）"
    )
    ingest.add_argument(
        "--skip-invalid",
        action="store_true",
        help="跳过有错误的行，只汇总有效的行（仍列出全部错误）",
    )
    ingest.add_argument("--today", help="汇总日期（YYYY-MM-DD，默认今天）")
    ingest.add_argument("--format", choices=("text", "json"), default="text", help="输出格式")
    ingest.set_defaults(handler=run_ingest)

    forms.set_defaults(handler=lambda args: _help(forms))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_CANNOT_RUN


def _today(value: str | None) -> dt.date | None:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        print(f"无法运行：日期“{value}”应写作 2026-11-28。", file=sys.stderr)
        return None


def _load(data: str):
    """The forms, or None after printing why they cannot be used."""
    from generator.forms.definitions import FormsUnusable, load_forms_for_use

    data_dir = Path(data)
    if not data_dir.is_dir():
        print(f"无法运行：找不到数据文件夹 {data_dir}。", file=sys.stderr)
        return None
    try:
        return load_forms_for_use(data_dir)
    except FormsUnusable as exc:
        print(f"无法运行：{exc}", file=sys.stderr)
        for issue in exc.issues[:20]:
            print(f"  {issue.to_text()}", file=sys.stderr)
        print("请先运行 gongzhi validate 修正表单定义。", file=sys.stderr)
        return None


def _find(forms: dict, form_id: str):
    form = forms.get(form_id)
    if form is None:
        known = "、".join(sorted(forms)) or "（没有表单）"
        print(f"无法运行：没有编号为“{form_id}”的表单。现有表单：{known}", file=sys.stderr)
    return form


def run_list(args: argparse.Namespace) -> int:
    today = _today(args.today)
    forms = _load(args.data) if today else None
    if forms is None:
        return EXIT_CANNOT_RUN
    for form in sorted(forms.values(), key=lambda f: (f.closes, f.id), reverse=True):
        results = f"，已公布结果（{form.results.n} 份）" if form.results else ""
        print(
            f"{form.id}\t{form.status(today).value}\t{form.opens.isoformat()} 至 "
            f"{form.closes.isoformat()}\t{form.title}{results}"
        )
    return EXIT_OK


def run_schema(args: argparse.Namespace) -> int:
    from generator.forms.rules import response_columns
    from generator.forms.schema import json_schema, table_schema

    forms = _load(args.data)
    form = _find(forms, args.form_id) if forms is not None else None
    if form is None:
        return EXIT_CANNOT_RUN
    if args.kind == "columns":
        print(",".join(response_columns(form)))
        return EXIT_OK
    data = table_schema(form) if args.kind == "table" else json_schema(form)
    print(json.dumps(data, ensure_ascii=False, indent=2))
    return EXIT_OK


def run_ingest(args: argparse.Namespace) -> int:
    from generator.forms.definitions import results_path, results_to_json
    from generator.forms.responses import aggregate, read_responses

    today = _today(args.today)
    forms = _load(args.data) if today else None
    form = _find(forms, args.form_id) if forms is not None else None
    if form is None or today is None:
        return EXIT_CANNOT_RUN
    path = Path(args.file)
    if not path.is_file():
        print(f"无法运行：找不到回复文件 {path}。", file=sys.stderr)
        return EXIT_CANNOT_RUN
    responses = read_responses(form, path, path.as_posix())
    errors = [i for i in responses.issues if i.severity is Severity.ERROR]
    write = not errors or (args.skip_invalid and responses.rows)
    out = Path(args.out) if args.out else results_path(Path(args.data), form.id)
    results = aggregate(form, responses.rows, today) if write else None
    if write and results is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(
            json.dumps(results_to_json(results), ensure_ascii=False, indent=2) + "\n", "utf-8"
        )
        tmp.replace(out)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "form": form.id,
                    "encoding": responses.encoding,
                    "accepted": len(responses.rows),
                    "rejected": responses.rejected,
                    "written": out.as_posix() if write else None,
                    "issues": [i.to_dict() for i in responses.issues],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        _print_issues(responses.issues)
        print(
            f"{path}（{responses.encoding}）：有效 {len(responses.rows)} 份，"
            f"有问题 {responses.rejected} 份。"
        )
        if write and results is not None:
            hidden = sum(1 for g in results.groups if g.suppressed)
            note = f"；{hidden} 组不足 5 份，不公布" if hidden else ""
            if results.overall.suppressed:
                note = "；有效回复不足 5 份，表单页只说明回复太少，不公布数字"
            print(f"已写入汇总结果 {out}（{results.n} 份回复{note}）。")
        else:
            print("有错误，未写入汇总结果。更正后重新导入，或加 --skip-invalid 只汇总有效的行。")
    if errors and not args.skip_invalid:
        return EXIT_INVALID
    return EXIT_OK if write else EXIT_INVALID


def _print_issues(issues: list[Issue]) -> None:
    shown = issues[:200]
    for issue in shown:
        word = "错误" if issue.severity is Severity.ERROR else "警告"
        print(f"{word} {issue.to_text()}")
    if len(issues) > len(shown):
        print(f"……另有 {len(issues) - len(shown)} 个问题未列出（用 --format json 查看全部）。")
