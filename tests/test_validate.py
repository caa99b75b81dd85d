"""The validator on a table of broken fixtures: exact (code, file, line, key) for each."""

from __future__ import annotations

import pytest
from validate_helpers import flat, make_data

from generator.issues import CATALOGUE, DataError, Severity
from generator.validate import check, load_dataset

D = "data/"

BROKEN = {
    "yaml-syntax": [("yaml-syntax", D + "communities/yuanhua.yaml", 2, "")],
    "tab-indent": [("tab-indent", D + "communities/yuanhua.yaml", 7, "")],
    "duplicate-key": [("duplicate-key", D + "streets/nanyuan.yaml", 6, "kind")],
    "unknown-key": [
        ("unknown-key", D + "communities/yuanhua.yaml", 5, "populaton"),
        ("missing-value", D + "communities/yuanhua.yaml", 7, "grids[1].full_time_workers"),
        ("unknown-key", D + "communities/yuanhua.yaml", 9, "grids[1].ful_time_workers"),
    ],
    "missing-value": [
        ("missing-value", D + "communities/yuanhua.yaml", 7, "grids[1].name"),
        ("missing-value", D + "projects/xinfeng-garden.yaml", 1, "budget_yuan"),
    ],
    "wrong-type": [
        ("type-error", D + "communities/xinfeng.yaml", 5, "population"),
        ("type-error", D + "communities/xinfeng.yaml", 12, "grids[1].full_time_workers"),
        ("type-error", D + "district.yaml", 5, "sample_data"),
    ],
    "enum": [
        ("not-in-enum", D + "communities/yuanhua.yaml", 4, "kind"),
        ("not-in-enum", D + "councils/xinfeng-council.yaml", 8, "members[1].role"),
    ],
    "dates": [
        ("impossible-date", D + "communities/xinfeng.yaml", 8, "consultation_centre_opened"),
        ("impossible-date", D + "evaluations/nanyuan-2026-01.yaml", 4, "date"),
        ("invalid-date", D + "meetings/xinfeng-2026-03.yaml", 3, "date"),
    ],
    "date-order": [
        ("date-order", D + "councils/xinfeng-council.yaml", 12, "members[1].term_end"),
        ("date-order", D + "meetings/xinfeng-2026-03.yaml", 21, "decisions[1].publicised_on"),
        ("date-order", D + "policies/dangjian-shequ-zhili.yaml", 6, "repealed_on"),
        ("date-order", D + "projects/xinfeng-garden.yaml", 9, "end_on"),
    ],
    "money": [
        ("out-of-range", D + "evaluations/nanyuan-2026-01.yaml", 6, "score"),
        ("invalid-money", D + "projects/xinfeng-garden.yaml", 5, "budget_yuan"),
        ("negative-money", D + "projects/xinfeng-garden.yaml", 6, "spent_yuan"),
        ("percent-out-of-range", D + "projects/xinfeng-garden.yaml", 11, "progress_pct"),
    ],
    "id-mismatch": [("id-mismatch", D + "streets/nanyuan.yaml", 1, "id")],
    "duplicate-id": [
        ("grid-community-mismatch", D + "cases/2026q1.csv", 3, "grid"),
        ("unknown-reference", D + "cases/2026q1.csv", 4, "grid"),
        ("duplicate-value", D + "communities/yuanhua.yaml", 1, "code"),
        ("duplicate-id", D + "communities/yuanhua.yaml", 6, "grids[1].id"),
        ("duplicate-id", D + "organisations/xinfeng-party.yaml", 1, "id"),
    ],
    "unknown-reference": [
        ("unknown-reference", D + "communities/yuanhua.yaml", 3, "street"),
        ("unknown-reference", D + "councils/xinfeng-council.yaml", 10, "members[1].organisation"),
        ("unknown-reference", D + "meetings/xinfeng-2026-03.yaml", 1, "council"),
        ("unknown-reference", D + "meetings/xinfeng-2026-03.yaml", 20, "decisions[1].project"),
        ("unknown-reference", D + "projects/xinfeng-garden.yaml", 2, "community"),
        ("unknown-reference", D + "projects/xinfeng-garden.yaml", 4, "grantee"),
    ],
    "code-prefix": [
        ("code-prefix", D + "communities/yuanhua.yaml", 1, "code"),
        ("code-prefix", D + "streets/nanyuan.yaml", 2, "code"),
    ],
    "warnings": [
        (
            "votes-exceed-attendance",
            D + "meetings/xinfeng-2026-03.yaml",
            15,
            "decisions[1].votes_for",
        ),
        ("spent-over-budget", D + "projects/xinfeng-garden.yaml", 6, "spent_yuan"),
    ],
    "unknown-tag": [
        ("unknown-tag", D + "projects/xinfeng-garden.yaml", 12, "tags"),
        ("unknown-tag", D + "projects/xinfeng-garden.yaml", 12, "tags"),
    ],
    "unexpected-file": [
        ("unexpected-file", D + "cases/2026q2.xlsx", None, ""),
        ("unexpected-file", D + "communities/linshi.yml", None, ""),
        ("unexpected-file", D + "comunities/y.yaml", None, ""),
        ("unexpected-file", D + "notes.txt", None, ""),
    ],
    "gbk": [("not-utf8", D + "streets/linping.yaml", 2, "")],
    "bom": [("bom", D + "district.yaml", 1, "")],
    "structure": [
        ("wrong-structure", D + "awards/zuimei-2025.yaml", 7, "winners"),
        ("parent-mismatch", D + "communities/yuanhua.yaml", 7, "grids[1].community"),
        ("wrong-structure", D + "evaluations/list.yaml", 1, ""),
        ("empty-file", D + "policies/empty.yaml", None, ""),
    ],
    "cases": [
        ("not-in-enum", D + "cases/2026q1.csv", 5, "channel"),
        ("case-closed-incomplete", D + "cases/2026q1.csv", 5, "closed_at"),
        ("grid-community-mismatch", D + "cases/2026q1.csv", 5, "grid"),
        ("case-closed-incomplete", D + "cases/2026q1.csv", 5, "resolved_level"),
        ("duplicate-id", D + "cases/2026q1.csv", 6, "id"),
        ("impossible-date", D + "cases/2026q1.csv", 6, "reported_at"),
        ("date-order", D + "cases/2026q1.csv", 7, "closed_at"),
        ("unknown-reference", D + "cases/2026q1.csv", 7, "community"),
        ("grid-community-mismatch", D + "cases/2026q1.csv", 7, "grid"),
        ("csv-malformed", D + "cases/2026q1.csv", 8, ""),
    ],
    "cases-gbk": [("not-utf8", D + "cases/2026q1.csv", 2, "")],
    "cases-columns": [
        ("unknown-column", D + "cases/2026q1.csv", 1, "phone"),
        ("unknown-column", D + "cases/2026q1.csv", 1, "sub_category"),
        ("missing-column", D + "cases/2026q1.csv", 1, "subcategory"),
    ],
}


def test_base_fixture_is_valid(tmp_path):
    result = check(make_data(tmp_path))
    assert result.issues == []
    assert result.dataset is not None
    assert set(result.tables) >= {"communities", "grids", "memberships", "milestones"}


@pytest.mark.parametrize("fixture", sorted(BROKEN))
def test_broken_fixture(tmp_path, fixture):
    result = check(make_data(tmp_path, fixture))
    assert flat(result.issues) == BROKEN[fixture]
    for issue in result.issues:
        assert issue.code in CATALOGUE, issue.code
        assert issue.severity is CATALOGUE[issue.code].severity
        assert issue.message and issue.hint
        assert any("\u4e00" <= ch <= "\u9fff" for ch in issue.message), issue.message
    errors = [i for i in result.issues if i.severity is Severity.ERROR]
    assert (result.dataset is None) == bool(errors)


def test_messages_name_the_fix(tmp_path):
    issues = check(make_data(tmp_path, "unknown-reference")).issues
    by_key = {i.key: i for i in issues}
    assert "xinfeng-garden" in by_key["decisions[1].project"].hint  # did you mean
    assert "data/streets/" in by_key["street"].hint  # where to add it
    gbk = check(make_data(tmp_path / "g", "gbk")).issues[0]
    assert "GBK" in gbk.message and "临平街道" in gbk.message
    assert "UTF-8" in gbk.hint
    enum = check(make_data(tmp_path / "e", "enum")).issues[0]
    assert "社区、村" in enum.hint
    dup = [
        i
        for i in check(make_data(tmp_path / "d", "duplicate-id")).issues
        if i.code == "duplicate-id"
    ]
    assert "data/communities/xinfeng.yaml:14" in dup[0].message  # both places named
    assert "data/communities/yuanhua.yaml:6" in dup[0].hint


def test_warnings_do_not_block_but_strict_does(tmp_path):
    data = make_data(tmp_path, "warnings")
    result = check(data)
    assert not result.errors and len(result.warnings) == 2
    assert result.dataset is not None
    assert result.valid() and not result.valid(strict=True)
    assert load_dataset(data).projects["xinfeng-garden"].spent_yuan == 130000
    with pytest.raises(DataError) as caught:
        load_dataset(data, strict=True)
    assert {i.code for i in caught.value.issues} == {"spent-over-budget", "votes-exceed-attendance"}


def test_load_dataset_raises_with_every_issue(tmp_path):
    with pytest.raises(DataError) as caught:
        load_dataset(make_data(tmp_path, "money"))
    assert len(caught.value.issues) == 4
    assert "4 个错误" in str(caught.value)


def test_extra_checks_are_plugged_in(tmp_path):
    data = make_data(tmp_path)
    seen = []

    def fake_check(data_dir, dataset):
        seen.append((data_dir, dataset is not None))
        return []

    import sys
    import types

    module = types.ModuleType("gongzhi_test_extra")
    module.check = fake_check
    sys.modules["gongzhi_test_extra"] = module
    try:
        result = check(data, extra_checks=("gongzhi_test_extra:check",))
    finally:
        del sys.modules["gongzhi_test_extra"]
    assert result.issues == []
    assert seen == [(data, True)]


def test_paths_relative_to_repository_root(tmp_path):
    (tmp_path / ".git").mkdir()
    data = make_data(tmp_path / "project", "id-mismatch")
    (tmp_path / "project" / "data").rename(tmp_path / "project" / "records")
    issues = check(tmp_path / "project" / "records").issues
    assert [i.file for i in issues] == ["project/records/streets/nanyuan.yaml"]
    assert not data.exists()


def test_sample_data_validates_clean():
    """The repository's sample district (data/) meets its own contract, warnings included."""
    from validate_helpers import REPO

    result = check(REPO / "data")
    assert [i.to_text() for i in result.issues] == []
    dataset = result.dataset
    assert dataset is not None
    assert {"linping", "nanyuan", "donghu"} <= set(dataset.streets)
    assert len(dataset.communities) >= 12 and dataset.case_files
