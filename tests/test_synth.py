"""``gongzhi synth``: deterministic bytes, clean validation, tier shapes, sound case records."""

from __future__ import annotations

import dataclasses
import filecmp
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from generator.cli import main
from generator.synth import (
    MARKER_FILE,
    TIERS,
    Quarter,
    SynthError,
    quarter_range,
    scalar,
    synthesize,
    write_sample_cases,
)

DATA = Path(__file__).resolve().parent.parent / "data"
SMALL = dataclasses.replace(TIERS["small"], case_rows=6_000)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "small"
    synthesize(SMALL, out, seed=7)
    return out


def test_same_seed_same_bytes_other_seed_other_bytes(small, tmp_path):
    again = tmp_path / "again"
    synthesize(SMALL, again, seed=7)
    assert _tree(small) == _tree(again)
    other = tmp_path / "other"
    synthesize(SMALL, other, seed=8)
    assert (other / "data/cases/2026-Q3.csv").read_bytes() != (
        small / "data/cases/2026-Q3.csv"
    ).read_bytes()


def test_small_tier_validates_clean(small):
    from generator.validate import check

    result = check(small / "data")
    assert [i.to_text() for i in result.issues] == []
    dataset = result.dataset
    assert dataset is not None
    assert len(dataset.communities) == SMALL.communities
    assert len(dataset.grids) == SMALL.grids
    assert len(dataset.streets) == SMALL.streets
    assert all(c.councils for c in dataset.communities.values())
    assert dataset.projects and all(p.decisions for p in dataset.projects.values())


def test_layout_is_the_editors_layout(small):
    data = small / "data"
    assert (data / "datapackage.yaml").read_bytes() == (DATA / "datapackage.yaml").read_bytes()
    assert (data / "district.yaml").is_file()
    assert len(list((data / "communities").rglob("*.yaml"))) == SMALL.communities
    assert len(list((data / "cases").glob("*.csv"))) == 4
    community = yaml.safe_load(next((data / "communities").rglob("*.yaml")).read_text("utf-8"))
    street = yaml.safe_load((data / "streets" / f"{community['street']}.yaml").read_text("utf-8"))
    assert community["code"].startswith(street["code"]) and len(community["code"]) == 12
    assert {"grids", "organisations"} <= community.keys()
    assert (small / MARKER_FILE).is_file()


def test_case_records_are_sound(small):
    con = duckdb.connect()
    files = str(small / "data/cases/*.csv")
    con.execute(f"CREATE TABLE c AS SELECT * FROM read_csv('{files}', all_varchar = true)")
    total, distinct = con.execute("SELECT count(*), count(DISTINCT id) FROM c").fetchone()
    assert total == distinct == SMALL.case_rows
    bad_order = con.execute(
        """SELECT count(*) FROM c WHERE NOT (
               reported_at <= coalesce(accepted_at, reported_at)
           AND coalesce(accepted_at, reported_at) <= coalesce(dispatched_at, accepted_at, reported_at)
           AND coalesce(dispatched_at, accepted_at, reported_at)
               <= coalesce(closed_at, dispatched_at, accepted_at, reported_at)
           AND due_at > reported_at)"""
    ).fetchone()[0]
    assert bad_order == 0
    inconsistent = con.execute(
        """SELECT count(*) FROM c WHERE
               (status = '已办结') <> (closed_at IS NOT NULL)
            OR (status = '已办结') <> (resolved_level IS NOT NULL)
            OR (satisfaction IS NOT NULL AND status <> '已办结')
            OR (status = '待受理' AND accepted_at IS NOT NULL)"""
    ).fetchone()[0]
    assert inconsistent == 0
    grid_share = con.execute(
        "SELECT avg((resolved_level = '网格')::INT) FROM c WHERE status = '已办结'"
    ).fetchone()[0]
    assert 0.65 < grid_share < 0.85
    # the grid belongs to the community the row names
    assert (
        con.execute(
            "SELECT count(*) FROM c WHERE NOT starts_with(grid, community || '-')"
        ).fetchone()[0]
        == 0
    )


def test_parquet_holds_the_same_rows(small, tmp_path):
    out = tmp_path / "pq"
    synthesize(SMALL, out, seed=7, fmt="parquet")
    con = duckdb.connect()
    csv_rows = con.execute(
        f"SELECT id, status, closed_at::TIMESTAMP FROM read_csv('{small}/data/cases/*.csv') ORDER BY id"
    ).fetchall()
    pq_rows = con.execute(
        f"SELECT id, status, closed_at FROM read_parquet('{out}/data/cases/*.parquet') ORDER BY id"
    ).fetchall()
    assert csv_rows == pq_rows


def test_the_committed_sample_cases_are_reproducible(tmp_path):
    shutil.copytree(DATA / "communities", tmp_path / "communities")
    summary = write_sample_cases(tmp_path)
    committed = sorted((DATA / "cases").glob("*.csv"))
    assert [p.name for p in summary.files] == [p.name for p in committed]
    for path in committed:
        assert filecmp.cmp(path, tmp_path / "cases" / path.name, shallow=False), path.name


def test_refuses_to_overwrite_what_it_did_not_write(tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    assert (
        main(["synth", "--tier", "small", "--rows", "100", "--out", str(foreign), "--quiet"]) == 2
    )
    assert (
        main(["synth", "--tier", "small", "--rows", "100", "--out", str(foreign), "--force"]) == 2
    )
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert "不是由 gongzhi synth 生成的" in capsys.readouterr().err
    ours = tmp_path / "ours"
    assert main(["synth", "--tier", "small", "--rows", "100", "--out", str(ours), "--quiet"]) == 0
    assert main(["synth", "--tier", "small", "--rows", "100", "--out", str(ours), "--quiet"]) == 2
    assert (
        main(
            ["synth", "--tier", "small", "--rows", "100", "--out", str(ours), "--force", "--quiet"]
        )
        == 0
    )
    assert "事件记录 100 条" in capsys.readouterr().out


def test_quarters():
    assert [q.label for q in quarter_range("2025-Q3", "2026-Q3")] == [
        "2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3",
    ]  # fmt: skip
    assert Quarter.parse("2026Q1").days == 90
    with pytest.raises(SynthError):
        Quarter.parse("2026-Q5")
    with pytest.raises(SynthError):
        quarter_range("2026-Q3", "2025-Q3")


@pytest.mark.parametrize(
    "value",
    [
        "330113",
        "yes",
        "No",
        "a: b",
        "#tag",
        "- item",
        "第1网格",
        "工作日 8:30—17:00",
        "null",
        "1.5",
        "“引号”开头",
    ],
)
def test_scalars_round_trip_through_yaml(value):
    assert yaml.safe_load(f"key: {scalar(value)}\n")["key"] == value


def test_bytes_do_not_depend_on_thread_count(tmp_path):
    from generator.synth import GridWeight, write_cases

    grids = [GridWeight(f"c{i // 4}-{i % 4:02d}", f"c{i // 4}", 100.0 + i) for i in range(40)]
    quarters = quarter_range("2026-Q2", "2026-Q3")
    one = write_cases(tmp_path / "one", grids, quarters, 4_000, 3, threads=1)
    three = write_cases(tmp_path / "three", grids, quarters, 4_000, 3, threads=3)
    for a, b in zip(one.files, three.files, strict=True):
        assert a.read_bytes() == b.read_bytes()
    assert one.rows == three.rows == 4_000
