"""Reference pages for editors, generated from the code so they cannot drift from it.

- ``content/editors/dictionary.md``: the data dictionary — every table and field of
  ``data/datapackage.yaml`` with type, required, allowed values, example and where editors keep it;
- ``content/editors/errors.md``: the error catalogue — every issue code registered in
  ``generator.issues.CATALOGUE`` with severity, meaning and fix.

``gongzhi docs`` writes them; ``gongzhi docs --check`` (and a test) fails when they are stale.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import generator
from generator.contract import Contract, ContractError, FieldRule, TableRule, load_contract
from generator.issues import CATALOGUE, Severity
from generator.layout import CASES_FOLDER, CASES_RESOURCE, ENTITY_SOURCES
from generator.model import GOVERNANCE_TAGS

__all__ = ["ContractError", "dictionary_page", "errors_page", "write_reference_pages"]

DICTIONARY_FILE = "dictionary.md"
ERRORS_FILE = "errors.md"

_TYPE_WORDS = {
    "string": "文字",
    "integer": "整数",
    "number": "数字",
    "date": "日期",
    "datetime": "日期时间",
    "boolean": "是/否",
    "list": "列表",
}
_GENERATED = "<!-- 本页由 `gongzhi docs` 根据代码自动生成，请勿手工修改。 -->"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _num(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _constraints(field: FieldRule) -> str:
    parts: list[str] = []
    if field.enum:
        parts.append("可选：" + "、".join(field.enum))
    if field.pattern:
        digits = field.pattern.removeprefix("^[0-9]{").removesuffix("}$")
        if digits.isdigit():
            parts.append(f"{digits} 位数字")
        elif field.pattern.startswith("^[a-z0-9]"):
            parts.append("小写字母、数字和“-”")
        else:
            parts.append(f"格式 `{field.pattern}`")
    if field.minimum is not None and field.maximum is not None:
        parts.append(f"{_num(field.minimum)}–{_num(field.maximum)}")
    elif field.minimum is not None:
        parts.append(f"≥ {_num(field.minimum)}")
    elif field.maximum is not None:
        parts.append(f"≤ {_num(field.maximum)}")
    if field.max_length is not None:
        parts.append(f"最多 {field.max_length} 字")
    if field.min_length is not None:
        parts.append(f"至少 {field.min_length} 字")
    if field.unique:
        parts.append("不得重复")
    if field.name == "tags" and field.type == "list":
        parts.append("可用标签：" + "、".join(GOVERNANCE_TAGS))
    if field.is_money:
        parts.append("单位：元，只写数字")
    if field.is_percent:
        parts.append("只写 0–100 的数字，不带 %")
    if field.type == "date":
        parts.append("写成 2026-03-01")
    if field.type == "datetime":
        parts.append("写成 2026-03-01 08:30:00")
    return "；".join(parts)


def _where(table: TableRule) -> tuple[str, dict[str, str]]:
    """Where editors keep the table, and the fields that are filled automatically."""
    if table.name == CASES_RESOURCE:
        return (
            f"`data/{CASES_FOLDER}/` 中的 CSV（UTF-8，第一行为英文字段名）或 Parquet 文件，一行一件事件。",
            {},
        )
    for source in ENTITY_SOURCES:
        if source.resource == table.name:
            if source.single_file:
                return f"`data/{source.single_file}`（只有一个文件）。", {}
            auto = {source.id_field: "可省略：省略时取文件名"} if source.id_field else {}
            return (
                f"`data/{source.folder}/<编号>.yaml`，一个文件一条记录，文件名（不含 .yaml）就是编号；"
                "可以再分子文件夹。",
                auto,
            )
    for source in ENTITY_SOURCES:
        for nested in source.nested:
            if nested.resource == table.name:
                auto = {nested.parent_field: f"自动填写：所在的{source.resource}文件的编号"}
                if nested.seq_field:
                    auto[nested.seq_field] = "可省略：省略时按列表中的顺序 1、2、3……"
                parent_title = ""
                return (
                    f"写在 `data/{source.folder}/<编号>.yaml` 的 `{nested.key}:` 列表中，每项以“- ”开头"
                    f"{parent_title}。",
                    auto,
                )
    return "—", {}


def dictionary_page(contract: Contract) -> str:
    """The data dictionary in Markdown (Chinese), from the Data Package."""
    titles = contract.titles()
    lines = [
        "# 数据字典",  # first, so that every engine takes it as the page title
        "",
        _GENERATED,
        "",
        "本页列出共治数据契约（`data/datapackage.yaml`）中的每一类数据和每个字段：类型、是否必填、"
        "允许的取值、示例，以及编辑时写在哪里。`gongzhi validate` 就按这份契约检查数据；"
        "发布的开放数据也是同一份数据包。",
        "",
        "- **必填**：标“是”的字段不能留空。",
        "- **文字**里的编号只用小写字母、数字和连字符“-”（一般用拼音，如 `xinfeng`）。",
        '- YAML 中以 0 开头或全是数字的代码请加引号，如 `code: "330113"`。',
        "- 嵌套在列表中的条目，在错误信息里写作 `grids[2].name`（第 2 项的 name），从 1 开始数。",
        "",
        "## 目录",
        "",
    ]
    for name, table in contract.tables.items():
        lines.append(f"- [{table.title}（{name}）](#{name})")
    for name, table in contract.tables.items():
        where, auto = _where(table)
        lines += ["", f"## {table.title}（{name}） {{#{name}}}", ""]
        if table.description:
            lines += [table.description, ""]
        lines.append(f"**写在哪里**：{where}")
        lines.append("")
        if table.primary_key:
            lines.append(
                "**编号（主键）**："
                + "、".join(f"`{k}`" for k in table.primary_key)
                + "，不得重复。"
            )
            lines.append("")
        if table.foreign_keys:
            refs = []
            for fk in table.foreign_keys:
                target = titles.get(fk.resource, fk.resource)
                refs.append(
                    "、".join(f"`{f}`" for f in fk.fields)
                    + f" → [{target}](#{fk.resource}) 的 "
                    + "、".join(f"`{f}`" for f in fk.reference_fields)
                )
            lines.append("**引用**：" + "；".join(refs) + "。")
            lines.append("")
        lines += [
            "| 字段 | 名称 | 类型 | 必填 | 取值与格式 | 示例 | 说明 |",
            "|---|---|---|---|---|---|---|",
        ]
        for field in table.fields.values():
            note = field.description
            if field.name in auto:
                note = (note + "；" if note else "") + auto[field.name]
            lines.append(
                "| "
                + " | ".join(
                    [
                        f"`{field.name}`",
                        _cell(field.title),
                        _TYPE_WORDS.get(field.type, field.type),
                        "是" if field.required else "",
                        _cell(_constraints(field)),
                        _cell(field.example),
                        _cell(note),
                    ]
                )
                + " |"
            )
    lines.append("")
    return "\n".join(lines)


def load_all_checks() -> None:
    """Import every module that registers issue codes, so the catalogue is complete."""
    for info in pkgutil.walk_packages(generator.__path__, "generator."):
        spec_path = _module_path(info)
        if spec_path is None:
            continue
        try:
            source = spec_path.read_text(encoding="utf-8")
        except OSError:
            continue
        if "register(" in source and "generator.issues" in source and "import" in source:
            importlib.import_module(info.name)


def _module_path(info: pkgutil.ModuleInfo) -> Path | None:
    finder = info.module_finder
    base = Path(getattr(finder, "path", ""))
    leaf = info.name.rsplit(".", 1)[-1]
    candidate = base / (f"{leaf}/__init__.py" if info.ispkg else f"{leaf}.py")
    return candidate if candidate.is_file() else None


def errors_page() -> str:
    """The error catalogue in Markdown (Chinese), from ``CATALOGUE``."""
    load_all_checks()
    words = {Severity.ERROR: "错误", Severity.WARNING: "警告"}
    lines = [
        "# 错误与警告说明",  # first, so that every engine takes it as the page title
        "",
        _GENERATED,
        "",
        "`gongzhi validate` 发现的每个问题都带一个固定的代码（如 `unknown-reference`），并指出文件、行号、"
        "字段和修正办法。**错误**会让校验不通过，网站不会发布；**警告**提醒核对，不影响发布"
        "（加 `--strict` 时警告也算不通过）。",
        "",
        "问题的写法：`data/communities/xinfeng.yaml:14 grids[2].full_time_workers: 说明（提示：怎么改）[代码]`，"
        "依次是文件、行号、字段路径、说明、提示和代码。拉取请求中的检查会把同样的信息标注在对应的行上。",
        "",
        "| 代码 | 级别 | 含义 | 如何修正 |",
        "|---|---|---|---|",
    ]
    for code in sorted(CATALOGUE):
        kind = CATALOGUE[code]
        lines.append(
            f"| `{code}` | {words[kind.severity]} | {_cell(kind.title)} | {_cell(kind.fix)} |"
        )
    lines.append("")
    return "\n".join(lines)


def write_reference_pages(data_dir: Path, out_dir: Path, *, check_only: bool = False) -> list[str]:
    """Write (or, with ``check_only``, compare) both pages; return the paths that were stale."""
    contract = load_contract(data_dir, check_with_frictionless=False)
    pages = {
        out_dir / DICTIONARY_FILE: dictionary_page(contract),
        out_dir / ERRORS_FILE: errors_page(),
    }
    stale: list[str] = []
    for path, text in pages.items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(path.as_posix())
        if not check_only:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return stale
