"""The YAML checks apply exactly the constraints Frictionless reads from the same Data Package."""

from __future__ import annotations

import frictionless
import pytest
from validate_helpers import REPO

from generator.contract import FieldRule, load_contract
from generator.load import RawRow, Scalar
from generator.validate import _Cast

CONTRACT = load_contract(REPO / "data", check_with_frictionless=False)


def candidates(field: FieldRule) -> list[str]:
    """Good and bad texts for a field, as an editor might type them."""
    values = [
        "x",
        "不存在的选项",
        "12",
        "-1",
        "1.5",
        "abc",
        "true",
        "是",
        "2026-03-01",
        "2026-02-30",
        "2026/3/1",
    ]
    if field.enum:
        values.append(field.enum[0])
    if field.example:
        values.append(field.example)
    if field.max_length:
        values += ["字" * field.max_length, "字" * (field.max_length + 1)]
    if field.maximum is not None:
        values += [str(field.maximum), str(field.maximum + 1)]
    if field.pattern:
        values += ["Bad ID", "ok-id-1", "330113", "330113001", "330113001001"]
    return values


TABLES = [name for name in CONTRACT.tables if name != "cases"]


@pytest.mark.parametrize("name", TABLES)
def test_same_cells_flagged_as_frictionless(name):
    table = CONTRACT.tables[name]
    fields = [f for f in table.fields.values() if f.type != "list"]  # lists: YAML sequences
    header = [f.name for f in fields]
    rows: list[list[str]] = []
    cells: list[tuple[int, str]] = []
    for field in fields:
        for text in candidates(field):
            row = [""] * len(fields)
            row[header.index(field.name)] = text
            rows.append(row)
            cells.append((len(rows) + 1, field.name))
    descriptor = next(r for r in CONTRACT.descriptor["resources"] if r["name"] == name)
    schema = {"fields": [f for f in descriptor["schema"]["fields"] if f.get("type") != "list"]}
    resource = frictionless.Resource(
        data=[header, *rows], schema=frictionless.Schema.from_descriptor(schema)
    )
    report = resource.validate(limit_errors=1_000_000)
    theirs = {
        (row, field)
        for row, field, kind in report.flatten(["rowNumber", "fieldName", "type"])
        if row and field and kind not in ("unique-error", "primary-key")  # cross-row: checked apart
    }

    ours: set[tuple[int, str]] = set()
    for number, row in enumerate(rows, start=2):
        issues: list = []
        raw = RawRow(name, "t.yaml", number, "")
        for field, text in zip(fields, row, strict=True):
            raw.values[field.name] = Scalar(text, text, "str", number, 1) if text else None
        cast = _Cast(issues)
        for field in fields:
            cast.cell(field, raw, raw.values.get(field.name))
        ours |= {(number, i.key) for i in issues}
    assert ours == theirs
