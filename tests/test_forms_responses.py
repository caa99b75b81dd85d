"""Responses: exported CSVs (UTF-8 with BOM, GBK, broken rows) are checked row by row; the
aggregates publish choices and ratings only, never free text or personal data, and hide every
group of fewer than 5; the generated schemas accept exactly the files ingest accepts."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from frictionless import Resource, Schema

from generator.cli import main
from generator.forms.definitions import load_forms_for_use, results_from_json, results_to_json
from generator.forms.model import FieldKind
from generator.forms.responses import aggregate, decode, read_responses
from generator.forms.rules import response_columns
from generator.forms.schema import json_schema, table_schema

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "forms"


@pytest.fixture(scope="module")
def forms() -> dict:
    return load_forms_for_use(ROOT / "data")


def test_valid_export_utf8_bom(forms: dict) -> None:
    form = forms["xinfeng-parking-survey"]
    result = read_responses(form, FIXTURES / "parking-survey-valid.csv")
    assert result.encoding == "UTF-8-BOM"
    assert result.issues == []
    assert len(result.rows) == 86 and result.rejected == 0
    # the apostrophe the intake export puts before "=..." is taken off again
    assert any(str(row["comment"]).startswith("=") for row in result.rows)


def test_gbk_export_detected(forms: dict) -> None:
    form = forms["xinfeng-parking-survey"]
    result = read_responses(form, FIXTURES / "parking-survey-gbk.csv")
    assert result.encoding == "GBK"
    assert result.issues == [] and len(result.rows) == 12
    assert result.rows[0]["vehicles"] in {"没有", "1 辆", "2 辆及以上"}


def test_broken_rows_each_reported_with_line_and_column(forms: dict) -> None:
    form = forms["xinfeng-parking-survey"]
    result = read_responses(form, FIXTURES / "parking-survey-broken.csv", "broken.csv")
    flat = [(i.code, i.file, i.line, i.column, i.key) for i in result.issues]
    assert flat == [
        ("form-response-invalid", "broken.csv", 3, 5, "shared_parking"),
        ("form-response-invalid", "broken.csv", 4, 6, "satisfaction"),
        ("form-response-duplicate", "broken.csv", 5, 1, "response_id"),
        ("form-response-timestamp", "broken.csv", 6, 2, "submitted_at"),
        ("form-response-invalid", "broken.csv", 7, 4, "problem"),
        ("form-response-row", "broken.csv", 8, None, ""),
    ]
    assert "请选择 1 到 5 分" in result.issues[1].message
    assert len(result.rows) == 2 and result.rejected == 6


def test_header_by_labels_and_missing_columns(tmp_path: Path, forms: dict) -> None:
    form = forms["xinfeng-parking-survey"]
    labels = ["回复编号", "提交时间"] + [f.label for f in form.fields]
    path = tmp_path / "labels.csv"
    path.write_text(
        ",".join(labels) + "\nR1,2026-09-02 10:00:00,没有,消防通道被占,支持,3,\n", "utf-8"
    )
    result = read_responses(form, path)
    assert result.issues == [] and len(result.rows) == 1
    path.write_text("response_id,vehicles,colour\nR1,没有,红\n", "utf-8")
    result = read_responses(form, path, "bad.csv")
    codes = [(i.code, i.line, i.key) for i in result.issues]
    assert ("form-response-header", 1, "colour") in codes
    assert any(
        i.code == "form-response-header" and "submitted_at" in i.message for i in result.issues
    )


def test_undecodable_file(tmp_path: Path, forms: dict) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"\xff\xfe\x00\xd8\x00\xdc\xff")
    result = read_responses(forms["xinfeng-parking-survey"], path)
    assert [i.code for i in result.issues] == ["form-response-encoding"]
    assert decode("议题".encode("gbk")) == ("议题", "GBK")


def test_aggregates_publish_only_choices_and_ratings(forms: dict) -> None:
    form = forms["xinfeng-parking-survey"]
    rows = read_responses(form, FIXTURES / "parking-survey-valid.csv").rows
    results = aggregate(form, rows, dt.date(2026, 10, 20))
    assert results.n == 86 and not results.overall.suppressed
    names = [f.name for f in results.overall.fields]
    assert names == ["vehicles", "problem", "shared_parking", "satisfaction"]  # no "comment"
    vehicles = results.overall.fields[0]
    assert sum(c.count for c in vehicles.counts) == 86
    expected = sum(1 for r in rows if r["vehicles"] == "没有")
    assert vehicles.counts[0].value == "没有" and vehicles.counts[0].count == expected
    rating = results.overall.fields[3]
    mean = sum(int(r["satisfaction"]) for r in rows) / 86
    assert rating.mean == round(mean, 2)
    # round trip through the published JSON
    again = results_from_json(json.loads(json.dumps(results_to_json(results))))
    assert again == results


def test_personal_fields_never_aggregated(forms: dict) -> None:
    form = forms["xinfeng-volunteers-winter"]
    publishable = {f.name for f in form.fields if f.publishable}
    assert publishable == {"age", "services", "times"}
    for item in form.fields:
        if item.personal or item.kind in (FieldKind.SHORT_TEXT, FieldKind.LONG_TEXT):
            assert not item.publishable


def test_small_groups_suppressed(forms: dict) -> None:
    form = forms["nanyuan-bench-review-2025"]
    rows = read_responses(form, FIXTURES / "bench-review-2025.csv").rows
    results = aggregate(form, rows, dt.date(2025, 12, 15))
    by_project = {g.value: g for g in results.groups}
    small = by_project["xinzhou-elevator-service"]
    assert small.n == 3 and small.suppressed and small.fields == []
    big = by_project["qiantang-neighbourhood-canteen"]
    assert big.n == 31 and not big.suppressed and big.fields
    assert "project" not in [f.name for f in results.overall.fields]
    # four responses overall: nothing but the fact that there were too few
    few = aggregate(form, rows[:4], dt.date(2025, 12, 15))
    assert few.overall.suppressed and few.overall.fields == []


def test_table_schema_accepts_what_ingest_accepts(tmp_path: Path, forms: dict) -> None:
    form = forms["xinfeng-parking-survey"]
    schema = Schema.from_descriptor(table_schema(form))
    assert [f.name for f in schema.fields] == response_columns(form)
    good = tmp_path / "good.csv"
    text = (FIXTURES / "parking-survey-valid.csv").read_text("utf-8-sig").replace(",'=", ",=")
    good.write_text(text, "utf-8")
    report = Resource(path="good.csv", basepath=str(tmp_path), schema=schema).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type"])
    bad = tmp_path / "bad.csv"
    bad.write_text((FIXTURES / "parking-survey-broken.csv").read_text("utf-8"), "utf-8")
    report = Resource(path="bad.csv", basepath=str(tmp_path), schema=schema).validate()
    errors = {(row, field) for row, field, _ in report.flatten(["rowNumber", "fieldName", "type"])}
    assert (3, "shared_parking") in errors and (4, "satisfaction") in errors
    assert (7, "problem") in errors


def test_json_schema_matches_the_rules(forms: dict) -> None:
    form = forms["xinfeng-volunteers-winter"]
    schema = json_schema(form)
    jsonschema.Draft202012Validator.check_schema(schema)
    good = {
        "response_id": "R1", "submitted_at": "2026-11-28T09:30:00+08:00", "name": "林小禾",
        "phone": "13800001234", "age": 35, "services": ["楼道清扫"], "start_date": "2026-12-01",
        "times": [], "consent": "同意",
    }  # fmt: skip
    jsonschema.validate(good, schema)
    for change in ({"age": 15}, {"services": ["跳舞"]}, {"consent": "不同意"}, {"phone": "123"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, **change}, schema)
    assert schema["properties"]["phone"]["x-personal"] is True


def test_cli_ingest_writes_results_and_refuses_broken(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data, ignore=shutil.ignore_patterns("cases"))
    out = data / "forms" / "_results" / "xinfeng-parking-survey.json"
    out.unlink()
    code = main(["forms", "ingest", "xinfeng-parking-survey", str(FIXTURES / "parking-survey-broken.csv"),
                 "--data", str(data)])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 1 and not out.exists()
    assert "parking-survey-broken.csv:4:6 satisfaction" in text and "未写入" in text
    code = main(["forms", "ingest", "xinfeng-parking-survey", str(FIXTURES / "parking-survey-broken.csv"),
                 "--data", str(data), "--skip-invalid", "--today", "2026-10-20"])  # fmt: skip
    assert code == 0 and json.loads(out.read_text("utf-8"))["n"] == 2
    code = main(["forms", "ingest", "xinfeng-parking-survey", str(FIXTURES / "parking-survey-gbk.csv"),
                 "--data", str(data), "--today", "2026-10-20"])  # fmt: skip
    assert code == 0
    published = json.loads(out.read_text("utf-8"))
    assert published["n"] == 12 and published["generated_on"] == "2026-10-20"
    capsys.readouterr()
    assert main(["forms", "ingest", "no-such-form", str(FIXTURES / "parking-survey-gbk.csv"),
                 "--data", str(data)]) == 2  # fmt: skip
    assert "没有编号为“no-such-form”的表单" in capsys.readouterr().err


def test_cli_schema(capsys) -> None:
    assert main(["forms", "schema", "xinfeng-parking-survey", "--kind", "columns"]) == 0
    assert capsys.readouterr().out.strip() == (
        "response_id,submitted_at,vehicles,problem,shared_parking,satisfaction,comment"
    )
    assert main(["forms", "schema", "xinfeng-parking-survey"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["primaryKey"] == ["response_id"]


def test_published_sample_results_are_current(forms: dict) -> None:
    """The committed aggregates are exactly what ingest makes of the committed fixtures."""
    cases = [
        ("xinfeng-parking-survey", "parking-survey-valid.csv"),
        ("nanyuan-bench-review-2025", "bench-review-2025.csv"),
    ]
    for form_id, fixture in cases:
        form = forms[form_id]
        rows = read_responses(form, FIXTURES / fixture).rows
        assert form.results is not None
        again = aggregate(form, rows, form.results.generated_on)
        assert again == form.results
