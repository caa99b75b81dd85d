"""The data contract, read from ``data/datapackage.yaml``: the one place constraints are stated.

The package is checked with Frictionless (a broken contract means validation cannot run), then
each Table Schema is compiled into plain rules that both the YAML checks (Python) and the case
checks (DuckDB SQL) apply. No constraint is written down twice.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from generator.layout import PACKAGE_FILE

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on the PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_CHECKED: set[tuple[str, int, int]] = set()  # packages already checked with Frictionless


class ContractError(Exception):
    """The data package is missing or is not a valid Frictionless Data Package (Chinese message)."""


@dataclass(frozen=True)
class FieldRule:
    name: str
    type: str  # Table Schema type: string, integer, number, date, datetime, boolean, list
    title: str
    description: str = ""
    example: str = ""
    required: bool = False
    unique: bool = False
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    true_values: tuple[str, ...] = ("true", "True", "TRUE", "1")
    false_values: tuple[str, ...] = ("false", "False", "FALSE", "0")
    delimiter: str = ","

    @property
    def is_money(self) -> bool:
        return self.name.endswith("_yuan")

    @property
    def is_percent(self) -> bool:
        return self.name.endswith("_pct")

    def regex(self) -> re.Pattern[str] | None:
        return _compiled(self.pattern) if self.pattern else None


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    if pattern not in _PATTERNS:
        _PATTERNS[pattern] = re.compile(pattern)
    return _PATTERNS[pattern]


@dataclass(frozen=True)
class ForeignKey:
    fields: tuple[str, ...]
    resource: str
    reference_fields: tuple[str, ...]


@dataclass(frozen=True)
class TableRule:
    name: str
    title: str
    description: str
    path: str
    fields: dict[str, FieldRule]
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()


@dataclass(frozen=True)
class Contract:
    path: Path
    descriptor: dict[str, Any]
    tables: dict[str, TableRule] = field(default_factory=dict)

    def field_names(self) -> dict[str, tuple[str, ...]]:
        return {name: tuple(table.fields) for name, table in self.tables.items()}

    def titles(self) -> dict[str, str]:
        return {name: table.title for name, table in self.tables.items()}


def _field_rule(spec: dict[str, Any]) -> FieldRule:
    constraints = spec.get("constraints") or {}
    enum = tuple(str(v) for v in constraints.get("enum") or ())
    example = spec.get("example")
    kwargs: dict[str, Any] = {}
    if "trueValues" in spec:
        kwargs["true_values"] = tuple(spec["trueValues"])
    if "falseValues" in spec:
        kwargs["false_values"] = tuple(spec["falseValues"])
    if "delimiter" in spec:
        kwargs["delimiter"] = spec["delimiter"]
    return FieldRule(
        name=spec["name"],
        type=spec.get("type", "string"),
        title=spec.get("title") or spec["name"],
        description=spec.get("description") or "",
        example="" if example is None else str(example),
        required=bool(constraints.get("required")),
        unique=bool(constraints.get("unique")),
        pattern=constraints.get("pattern"),
        enum=enum,
        minimum=constraints.get("minimum"),
        maximum=constraints.get("maximum"),
        min_length=constraints.get("minLength"),
        max_length=constraints.get("maxLength"),
        **kwargs,
    )


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _check_with_frictionless(path: Path, descriptor: dict[str, Any], data_dir: Path) -> None:
    """Frictionless's own check of the package descriptor; a passed check is remembered on disk
    (keyed by the file's bytes and the Frictionless version), as importing Frictionless alone
    takes most of a second."""
    from importlib.metadata import PackageNotFoundError, version

    from generator.cache import ResultCache, cache_root, make_key

    try:
        frictionless_version = version("frictionless")
    except PackageNotFoundError:
        frictionless_version = ""
    passed = ResultCache(cache_root(data_dir), "contract")
    key = make_key("frictionless-descriptor", frictionless_version, hashlib.sha256(path.read_bytes()).hexdigest())
    if passed.get(key) is True:
        return
    import frictionless  # imported lazily: it takes a while to load

    report = frictionless.Package.validate_descriptor(descriptor)
    if not report.valid:
        details = "；".join(error.message for error in report.errors[:5])
        raise ContractError(f"数据契约 {path} 不符合 Frictionless 数据包规范：{details}")
    passed.put(key, True)


def load_contract(data_dir: Path, *, check_with_frictionless: bool = True) -> Contract:
    """Read and check ``data_dir/datapackage.yaml``; raise ``ContractError`` when it cannot be used."""
    path = data_dir / PACKAGE_FILE
    if not path.is_file():
        raise ContractError(f"找不到数据契约文件 {path}（每个数据文件夹都需要 {PACKAGE_FILE}）。")
    try:
        descriptor = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        raise ContractError(f"数据契约 {path} 无法读取：{exc}") from exc
    if not isinstance(descriptor, dict) or not isinstance(descriptor.get("resources"), list):
        raise ContractError(f"数据契约 {path} 不是数据包（缺少 resources 列表）。")
    stamp = (str(path.resolve()), path.stat().st_mtime_ns, path.stat().st_size)
    if check_with_frictionless and stamp not in _CHECKED:
        _check_with_frictionless(path, descriptor, data_dir)
        _CHECKED.add(stamp)
    tables: dict[str, TableRule] = {}
    for resource in descriptor["resources"]:
        schema = resource.get("schema") or {}
        fields = {spec["name"]: _field_rule(spec) for spec in schema.get("fields") or ()}
        foreign_keys = tuple(
            ForeignKey(
                _as_tuple(fk["fields"]),
                fk["reference"].get("resource") or resource["name"],
                _as_tuple(fk["reference"]["fields"]),
            )
            for fk in schema.get("foreignKeys") or ()
        )
        tables[resource["name"]] = TableRule(
            name=resource["name"],
            title=resource.get("title") or resource["name"],
            description=resource.get("description") or "",
            path=resource.get("path") or "",
            fields=fields,
            primary_key=_as_tuple(schema.get("primaryKey")),
            foreign_keys=foreign_keys,
        )
    return Contract(path, descriptor, tables)
