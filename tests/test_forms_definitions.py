"""Form definitions: the sample forms load clean; each kind of mistake gives its code, file,
line and key (asserted as flattened tuples, not whole messages)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from generator.forms.definitions import check_forms, load_forms, read_form
from generator.forms.model import FieldKind, FormKind, FormStatus, OwnerKind
from generator.issues import CATALOGUE, Severity
from generator.model import Award, Community, Council, Dataset, District, Project

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
id: demo
title: 示例表单
kind: 议题征集
purpose: 征集议题
owner: {kind: 议事会, id: demo-council}
audience: 居民
opens: 2026-11-01
closes: 2026-12-01
fields:
  - name: topic
    label: 议题
    kind: 单行文本
    required: true
    max_length: 40
  - name: area
    label: 方面
    kind: 单选
    options: [停车, 环境]
privacy:
  purpose: 整理议题
  seen_by: 居委会
  retention_days: 365
  contact: 居委会电话
"""


def _dataset(root: Path) -> Dataset:
    ds = Dataset(root=root, district=District(code="330113", name="临平区", sample_data=True))
    ds.communities["demo"] = Community(
        id="demo", code="330113001001", name="示例社区", street="s", kind="社区"
    )  # type: ignore[arg-type]
    ds.councils["demo-council"] = Council(
        id="demo-council", name="示例议事会", kind="居民议事会", community="demo"
    )  # type: ignore[arg-type]
    ds.projects["p1"] = Project(
        id="p1", title="项目一", community="demo", programme="公益创投", grantee="g",  # type: ignore[arg-type]
        budget_yuan=1.0, funding_source="区级财政", start_on=dt.date(2026, 1, 1), status="实施中",  # type: ignore[arg-type]
    )  # fmt: skip
    ds.projects["p2"] = Project(
        id="p2", title="项目二", community="other", programme="公益创投", grantee="g",  # type: ignore[arg-type]
        budget_yuan=1.0, funding_source="区级财政", start_on=dt.date(2026, 1, 1), status="实施中",  # type: ignore[arg-type]
    )  # fmt: skip
    ds.awards["a1"] = Award(id="a1", title="最美", category="最美志愿者", year=2026, issuer="街道")  # type: ignore[arg-type]
    return ds


def _write(tmp_path: Path, text: str, name: str = "demo") -> Path:
    folder = tmp_path / "data" / "forms"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _flat(issues) -> list[tuple[str, str, int | None, str]]:
    return [(i.code, Path(i.file).name, i.line, i.key) for i in issues]


def test_sample_forms_are_clean_and_typed() -> None:
    from generator.validate import check

    result = check(ROOT / "data", extra_checks=(), cases=False)
    assert result.dataset is not None
    forms, issues = load_forms(ROOT / "data", result.dataset)
    assert [i.to_text() for i in issues] == []
    by_id = {f.id: f for f in forms}
    kinds = {f.kind for f in forms}
    # every participation channel of the paper has a sample form
    assert {FormKind.CALL_FOR_TOPICS, FormKind.FEEDBACK, FormKind.EVALUATION, FormKind.VOLUNTEER,
            FormKind.NOMINATION, FormKind.PROPOSAL} <= kinds  # fmt: skip
    today = dt.date(2026, 11, 28)
    assert any(f.status(today) is FormStatus.CLOSED and f.results for f in forms)
    assert any(f.status(today) is FormStatus.OPEN for f in forms)
    # the evaluation form offers the projects within its council's street, by id
    review = by_id["nanyuan-bench-review-2026"]
    project = review.get_field("project")
    assert project is not None and project.options
    assert {o.value for o in project.options} <= set(result.dataset.projects)
    # every kind of field is used somewhere in the samples
    used = {item.kind for f in forms for item in f.fields}
    assert used == set(FieldKind)


def test_good_definition_loads(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    form, issues = read_form(path, "data/forms/demo.yaml", "http://127.0.0.1:8787")
    assert issues == []
    assert form is not None
    assert form.owner.kind is OwnerKind.COUNCIL
    assert form.delivery.action("demo") == "http://127.0.0.1:8787/f/demo"
    assert form.fields[0].kind is FieldKind.SHORT_TEXT and form.fields[0].required
    assert form.status(dt.date(2026, 10, 31)) is FormStatus.UPCOMING
    assert form.status(dt.date(2026, 12, 1)) is FormStatus.OPEN
    assert form.status(dt.date(2026, 12, 2)) is FormStatus.CLOSED


def _replace(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new)


CASES = [
    ("unknown top key", _replace("audience: 居民", "audience: 居民\naudiance: 全体"),
     [("form-unknown-key", "demo.yaml", 7, "audiance")]),
    ("unknown field key", _replace("    max_length: 40", "    max_lenght: 40"),
     [("form-unknown-key", "demo.yaml", 14, "fields[0].max_lenght")]),
    ("bad field kind", _replace("kind: 单行文本", "kind: 单行文字"),
     [("form-bad-enum", "demo.yaml", 12, "fields[0].kind")]),
    ("bad owner kind", _replace("{kind: 议事会, id: demo-council}", "{kind: 委员会, id: demo-council}"),
     [("form-bad-enum", "demo.yaml", 5, "owner.kind")]),
    ("close before open", _replace("closes: 2026-12-01", "closes: 2026-10-01"),
     [("form-close-before-open", "demo.yaml", 8, "closes")]),
    ("not a date", _replace("opens: 2026-11-01", "opens: 十一月一日"),
     [("form-bad-type", "demo.yaml", 7, "opens")]),
    ("duplicate field", _replace("  - name: area", "  - name: topic"),
     [("form-duplicate-field", "demo.yaml", 15, "fields[1].name")]),
    ("reserved field name", _replace("  - name: area", "  - name: _hp"),
     [("form-bad-field-name", "demo.yaml", 15, "fields[1].name")]),
    ("pattern does not compile", _replace("    max_length: 40", "    max_length: 40\n    pattern: \"[0-9\"\n    pattern_description: 数字"),
     [("form-bad-pattern", "demo.yaml", 15, "fields[0].pattern")]),
    ("python-only pattern", _replace("    max_length: 40", "    max_length: 40\n    pattern: \"(?P<n>\\\\d+)\"\n    pattern_description: 数字"),
     [("form-bad-pattern", "demo.yaml", 15, "fields[0].pattern")]),
    ("pattern without description", _replace("    max_length: 40", "    max_length: 40\n    pattern: \"\\\\d+\""),
     [("form-pattern-undescribed", "demo.yaml", 15, "fields[0].pattern")]),
    ("choice without options", _replace("    options: [停车, 环境]\n", ""),
     [("form-missing-options", "demo.yaml", 15, "fields[1]")]),
    ("duplicate option", _replace("[停车, 环境]", "[停车, 停车]"),
     [("form-bad-option", "demo.yaml", 18, "fields[1].options[1]")]),
    ("range on text", _replace("    max_length: 40", "    max_length: 40\n    min: 3"),
     [("form-constraint-not-applicable", "demo.yaml", 15, "fields[0].min")]),
    ("min above max", _replace("    max_length: 40", "    max_length: 4\n    min_length: 10"),
     [("form-bad-range", "demo.yaml", 14, "fields[0].max_length")]),
    ("missing privacy", GOOD[: GOOD.index("privacy:")],
     [("form-missing-key", "demo.yaml", 1, "")]),
    ("retention not a number", _replace("retention_days: 365", "retention_days: 一年"),
     [("form-bad-type", "demo.yaml", 22, "privacy.retention_days")]),
    ("bad endpoint", GOOD + "delivery: {endpoint: intake.local}\n",
     [("form-bad-url", "demo.yaml", 24, "delivery.endpoint")]),
    ("no way to submit", GOOD + "delivery: {endpoint: none}\n",
     [("form-no-delivery", "demo.yaml", 24, "delivery")]),
    ("id differs from file", _replace("id: demo", "id: other"),
     [("form-bad-id", "demo.yaml", 1, "id")]),
    ("personal data without consent",
     _replace("  - name: area", "  - name: phone\n    label: 电话\n    kind: 电话\n  - name: area"),
     [("form-no-consent", "demo.yaml", 9, "fields")]),
    ("yaml syntax", "id: demo\ntitle: [未闭合\n",
     [("form-yaml-syntax", "demo.yaml", 3, "")]),
]  # fmt: skip


@pytest.mark.parametrize("text,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_definitions(tmp_path: Path, text: str, expected: list) -> None:
    path = _write(tmp_path, text)
    _form, issues = read_form(path, "data/forms/demo.yaml", "http://127.0.0.1:8787")
    assert _flat(issues) == expected
    for issue in issues:
        assert issue.code in CATALOGUE
        assert issue.message and issue.hint  # Chinese message and a way to fix it


def test_external_only_form(tmp_path: Path) -> None:
    text = (
        GOOD
        + "delivery:\n  endpoint: none\n  external:\n    url: https://wj.example.org/s/1\n    prefill: {proj: topic}\n"
    )
    path = _write(tmp_path, text)
    form, issues = read_form(path, "data/forms/demo.yaml", "http://127.0.0.1:8787")
    assert issues == [] and form is not None
    assert form.delivery.action("demo") is None
    assert form.delivery.external is not None and form.delivery.external.prefill == {
        "proj": "topic"
    }


def test_did_you_mean(tmp_path: Path) -> None:
    path = _write(tmp_path, _replace("audience: 居民", "audience: 居民\naudiance: 全体"))
    _form, issues = read_form(path, "data/forms/demo.yaml", "http://x")
    assert "audience" in issues[0].hint
    path = _write(tmp_path, _replace("kind: 单行文本", "kind: 单选题"))
    _form, issues = read_form(path, "data/forms/demo.yaml", "http://x")
    assert "单选" in issues[0].hint


def test_owner_checked_against_dataset(tmp_path: Path) -> None:
    _write(tmp_path, _replace("id: demo-council}", "id: demo-counci}"))
    issues = check_forms(tmp_path / "data", _dataset(tmp_path / "data"))
    assert _flat(issues) == [("form-unknown-owner", "demo.yaml", 5, "owner.id")]
    assert "demo-council" in issues[0].hint
    # without a dataset (validation stopped earlier) owners are not checked
    assert check_forms(tmp_path / "data", None) == []


def test_options_from_projects_follow_the_owner(tmp_path: Path) -> None:
    text = _replace(
        "    options: [停车, 环境]",
        "    options_from: projects\n    prefill: project",
    )
    _write(tmp_path, text)
    forms, issues = load_forms(tmp_path / "data", _dataset(tmp_path / "data"))
    assert issues == []
    area = forms[0].get_field("area")
    assert area is not None
    # the council's community holds p1 only
    assert [(o.value, o.label) for o in area.options] == [("p1", "项目一")]


def test_settings_and_results_files(tmp_path: Path) -> None:
    _write(tmp_path, GOOD)
    (tmp_path / "data" / "forms" / "_settings.yaml").write_text(
        "endpoint: https://intake.example.org\n", "utf-8"
    )
    results = tmp_path / "data" / "forms" / "_results"
    results.mkdir()
    (results / "gone.json").write_text("{}", "utf-8")
    (results / "demo.json").write_text("{not json", "utf-8")
    forms, issues = load_forms(tmp_path / "data")
    assert forms[0].delivery.action("demo") == "https://intake.example.org/f/demo"
    assert sorted(_flat(issues)) == [
        ("form-results-orphan", "gone.json", None, ""),
        ("form-results-unreadable", "demo.json", None, ""),
    ]
    assert forms[0].results is None


def test_codes_are_registered_with_chinese_text() -> None:
    codes = [c for c in CATALOGUE if c.startswith("form-")]
    assert len(codes) >= 20
    for code in codes:
        kind = CATALOGUE[code]
        assert kind.severity in (Severity.ERROR, Severity.WARNING)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in kind.title + kind.fix)


def test_options_from_data_with_nothing_in_reach(tmp_path: Path) -> None:
    text = _replace("{kind: 议事会, id: demo-council}", "{kind: 评选, id: a1}")
    text = text.replace("    options: [停车, 环境]", "    options_from: projects")
    _write(tmp_path, text)
    dataset = _dataset(tmp_path / "data")
    dataset.projects.clear()
    forms, issues = load_forms(tmp_path / "data", dataset)
    assert forms == []
    assert _flat(issues) == [("form-no-data-options", "demo.yaml", 18, "fields[1].options_from")]


def test_endpoint_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, GOOD)
    monkeypatch.setenv("GONGZHI_INTAKE_URL", "https://intake.example.gov.cn")
    forms, issues = load_forms(tmp_path / "data")
    assert (
        issues == [] and forms[0].delivery.action("demo") == "https://intake.example.gov.cn/f/demo"
    )
    monkeypatch.setenv("GONGZHI_INTAKE_URL", "intake")
    forms, issues = load_forms(tmp_path / "data")
    assert [i.code for i in issues] == ["form-bad-url"]
    assert forms[0].delivery.action("demo") == "http://127.0.0.1:8787/f/demo"
