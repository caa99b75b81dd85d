"""Every KPI on a hand-computed case file (tests/fixtures/stats/cases.csv, 22 cases).

The expected numbers below were worked out by hand from the CSV, case by case (see the
comments); the data cut-off is the latest time stamp, 2026-09-29 08:00 (case C8 reported).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
from pathlib import Path

import pytest

from generator.metrics import METRICS, RANKING_MIN_DUE, Level, Period
from generator.stats import (
    KpiView,
    StatsError,
    build_view,
    change_between,
    compute_stats,
)

_spec = importlib.util.spec_from_file_location("stats_sample", Path(__file__).parent / "fixtures/stats/sample.py")
sample = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sample)

Q3, Q2, Q3_2025 = Period(2026, 3), Period(2026, 2), Period(2025, 3)


@pytest.fixture(scope="module")
def stats():
    return compute_stats([sample.CASES], sample.COMMUNITY_STREETS, district="330199")


def test_cut_off_and_periods(stats):
    assert stats.as_of == dt.datetime(2026, 9, 29, 8, 0)
    # quarters without cases in between are listed (for trends), none after the cut-off
    assert [q.key for q in stats.quarters] == ["2025Q3", "2025Q4", "2026Q1", "2026Q2", "2026Q3"]
    assert [y.key for y in stats.years] == ["2025", "2026"]
    assert stats.is_complete(Q2) and not stats.is_complete(Q3)


def test_district_2026q3_every_figure(stats):
    k = stats.district_kpi(Q3)
    # intake: C1–C10 and D1 were reported in Q3; C8 (待受理) has no acceptance time
    assert (k.received, k.accepted, k.withdrawn) == (11, 10, 0)
    # closure cohort: due in Q3 — B8 (reported in Q2), C1, C2, C3, C4, C5, C9, and D1 (no due
    # time, closed 08-06). Not C6/C7 (due in Q4), not C10 (due 09-30, after the cut-off, open).
    assert k.due == 8
    assert k.closed == 7  # C3 is still open and overdue
    assert k.overdue_open == 1
    assert k.closed_on_time == 6  # C2 closed three days late; C3 counts as late
    assert k.completion_rate == pytest.approx(7 / 8)
    assert k.on_time_rate == pytest.approx(6 / 8)
    # reported → closed, days: B8 6, C1 2, C2 10, C4 6, C5 1, C9 2, D1 1
    assert k.handling_days_mean == pytest.approx(28 / 7)
    assert k.handling_days_median == pytest.approx(2.0)
    # resolved at: 网格 B8 C1 C5 D1 · 社区 C2 C9 · 镇街 C4 → cumulative 4, 6, 7 of 7
    assert (k.resolved_at_grid, k.resolved_at_community, k.resolved_at_street, k.resolved_at_district) == (4, 2, 1, 0)
    assert k.grid_resolution_rate == pytest.approx(4 / 7)
    assert k.community_resolution_rate == pytest.approx(6 / 7)
    assert k.street_resolution_rate == pytest.approx(7 / 7)
    # answered: B8 满意 C1 满意 C2 基本满意 C4 不满意 C9 满意 D1 满意 (C5 not answered)
    assert (k.answered, k.satisfied) == (6, 5)
    assert k.satisfaction_rate == pytest.approx(5 / 6)
    assert k.channels[0] == ("居民上报", 6)
    assert dict(k.channels) == {"居民上报": 6, "城市大脑感知": 2, "网格员巡查": 1, "12345热线": 1, "部门移交": 1}
    assert k.top_categories(2) == [("环境卫生", 3), ("公共设施", 2)]
    assert sum(n for _, n in k.categories) == 11


def test_district_2026q2_withdrawn_and_district_level_resolution(stats):
    k = stats.district_kpi(Q2)
    assert (k.received, k.accepted, k.withdrawn) == (8, 7, 1)  # B7 withdrawn, never accepted
    assert (k.due, k.closed, k.closed_on_time) == (6, 5, 4)  # B5 overdue open, B3 late; B7 excluded
    # B2 closed 04-12 20:00, due 04-13 08:00 → on time; durations 1, 2.5, 10, 3, 4
    assert k.handling_days_mean == pytest.approx(20.5 / 5)
    assert k.handling_days_median == pytest.approx(3.0)
    # B4 was resolved at district level: outside the street, so street rate is 4/5
    assert (k.grid_resolution_rate, k.community_resolution_rate, k.street_resolution_rate) == pytest.approx((2 / 5, 3 / 5, 4 / 5))
    assert (k.answered, k.satisfied) == (4, 3)


def test_levels_grid_community_street(stats):
    grid = stats.get(Level.GRID, "c1-01", Q3)
    assert (grid.received, grid.due, grid.closed, grid.closed_on_time) == (3, 3, 3, 3)  # C1 C7 C9 / B8 C1 C9
    assert (grid.community, grid.street) == ("c1", "s1")
    community = stats.get(Level.COMMUNITY, "c1", Q3)
    assert (community.received, community.due, community.closed, community.closed_on_time) == (4, 4, 4, 3)
    street = stats.get(Level.STREET, "s1", Q3)
    # s1 = c1 + c2: intake C1 C2 C7 C9 + C3 C4 C8 D1; due c1 4 + c2 (C3 C4 D1) 3
    assert (street.received, street.due, street.closed, street.closed_on_time) == (8, 7, 6, 5)
    other = stats.get(Level.STREET, "s2", Q3)
    assert (other.received, other.due, other.closed) == (3, 1, 1)  # C5 C6 C10; only C5 due


def test_year_and_closed_early_case(stats):
    year = stats.get(Level.DISTRICT, "330199", Period(2026))
    assert year.received == 19  # B1–B8, C1–C10, D1
    # due in 2026: B1–B6 (6), B8 C1 C2 C3 C4 C5 C9 D1 (8), and C7, closed early ahead of its
    # 10-02 due date (closed cases count even before their due date passes)
    assert year.due == 15
    q4 = stats.get(Level.DISTRICT, "330199", Period(2026, 4))
    assert (q4.due, q4.closed, q4.received) == (1, 1, 0)  # reachable, but not listed yet


def test_changes_previous_quarter_and_year_before(stats):
    k = stats.district_kpi(Q3)
    previous, year_before = stats.previous(k), stats.year_before(k)
    assert previous.period == Q2 and year_before.period == Q3_2025
    # on-time rate 75% vs 4/6 and vs 2/3 (A2 late in 2025Q3): +8.3 percentage points both
    assert change_between("on_time_rate", k, previous).text == "+8.3 个百分点"
    assert change_between("on_time_rate", k, year_before).text == "+8.3 个百分点"
    assert change_between("received", k, previous).text == "+37.5%"  # 11 vs 8
    assert change_between("received", k, year_before).text == "+266.7%"  # 11 vs 3
    assert change_between("handling_days_median", k, previous).text == "−33.3%"  # 2 vs 3 days
    assert change_between("street_resolution_rate", stats.district_kpi(Q2), stats.district_kpi(Q2)).text == "持平"
    assert change_between("received", k, stats.get(Level.DISTRICT, "330199", Period(2026, 1))).text == "—"


def test_grid_small_counts_are_suppressed_in_views(stats):
    view = KpiView(stats.get(Level.GRID, "c1-01", Q3), "第一网格", suppress=True)
    assert str(view.received) == "<5" and view.received.value is None
    assert str(view.on_time_rate) == "—" and view.on_time_rate.value is None  # only 3 due
    assert view.vs_previous == {} and view.categories == []
    community = KpiView(stats.get(Level.COMMUNITY, "c1", Q3), "一社区")
    assert str(community.received) == "4" and str(community.on_time_rate) == "75.0%"
    empty = KpiView(stats.get_or_empty(Level.GRID, "c1-02", Period(2026, 1)), "第二网格", suppress=True)
    assert str(empty.received) == "0"  # zero discloses nobody and is shown


def test_ranking_minimum_sample(stats):
    assert stats.ranking(Q3).entries == []  # no community has 30 due cases
    assert stats.ranking(Q3).excluded == 3
    ranking = stats.ranking(Q3, minimum_due=2)
    # c1: 3/4 on time; c2: C4 D1 on time, C3 overdue → 2/3; c3: 1 due (excluded)
    assert [(e.rank, e.kpi.unit) for e in ranking.entries] == [(1, "c1"), (2, "c2")]
    assert ranking.excluded == 1
    assert RANKING_MIN_DUE == 30


def test_view_for_pages(stats, tmp_path):
    dataset = sample.make_dataset(tmp_path)
    view = build_view(stats, dataset, charts=False)
    assert view.latest == Q3 and view.ranked == Q2
    c1 = view.community("c1")
    assert [v.period.key for v in c1.quarters] == ["2025Q3", "2025Q4", "2026Q1", "2026Q2", "2026Q3"]
    assert not c1.quarters[-1].complete
    assert [str(g.received) for g in c1.grids] == ["<5", "<5"]
    row = next(r for r in c1.rows if r.key == "on_time_rate")
    assert [str(f) for f in row.figures] == ["50.0%", "—", "—", "66.7%", "75.0%"]
    assert view.district.cases == 11 and view.district.period_label == "2026年第三季度"


def test_parquet_and_csv_give_the_same_figures(stats, tmp_path):
    import duckdb

    parquet = tmp_path / "cases.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_csv('{sample.CASES}', all_varchar = true)) TO '{parquet}' (FORMAT parquet)")
    other = compute_stats([parquet], sample.COMMUNITY_STREETS, district="330199")
    assert other.kpis == stats.kpis
    # split over two files (a CSV and a Parquet) still counts each case once
    half = tmp_path / "half.csv"
    lines = sample.CASES.read_text("utf-8").splitlines()
    half.write_text("\n".join(lines[:12]) + "\n", "utf-8")
    rest = tmp_path / "rest.parquet"
    duckdb.sql(f"COPY (SELECT * FROM read_csv('{sample.CASES}', all_varchar = true) OFFSET 11) TO '{rest}' (FORMAT parquet)")
    assert compute_stats([half, rest], sample.COMMUNITY_STREETS, district="330199").kpis == stats.kpis


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_one_store_can_be_counted_again_with_another_street_map(stats, tmp_path, kind):
    """The build counts with a guessed street map and, when the guess was wrong, again."""
    import duckdb

    from generator.casestore import CaseStore
    from generator.stats import TYPED_COLUMNS

    files = [sample.CASES]
    if kind == "parquet":
        files = [tmp_path / "cases.parquet"]
        duckdb.sql(f"COPY (SELECT * FROM read_csv('{sample.CASES}', all_varchar = true)) TO '{files[0]}' (FORMAT parquet)")
    moved = {**sample.COMMUNITY_STREETS, next(iter(sample.COMMUNITY_STREETS)): "elsewhere"}
    with CaseStore(files, typed=TYPED_COLUMNS) as store:
        first = compute_stats(files, moved, district="330199", store=store)
        again = compute_stats(files, sample.COMMUNITY_STREETS, district="330199", store=store)
    assert first.kpis != stats.kpis
    assert again.kpis == stats.kpis


def test_unreadable_file_is_a_chinese_error(tmp_path):
    with pytest.raises(StatsError, match="找不到事件记录文件"):
        compute_stats([tmp_path / "missing.csv"], {})
    broken = tmp_path / "broken.csv"
    shutil.copy(sample.CASES, broken)
    broken.write_text("id,community\nX,c1\n", "utf-8")
    with pytest.raises(StatsError, match="broken.csv 缺少列 grid、channel、category、reported_at、status"):
        compute_stats([broken], {})


def test_optional_columns_may_be_left_out_of_a_case_file(tmp_path, stats):
    """The contract lets a file leave out optional columns; its cases then have no such value."""
    import csv

    with open(sample.CASES, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    kept = [c for c in rows[0] if c not in ("satisfaction", "resolved_level")]
    slim = tmp_path / "slim.csv"
    with open(slim, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, kept, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    fewer = compute_stats([slim], sample.COMMUNITY_STREETS, district="330199")
    full, without = stats.district_kpi(Q3), fewer.district_kpi(Q3)
    assert without.received == full.received and without.closed == full.closed
    assert full.answered > 0 and without.answered == 0 and without.resolved_in_grid == 0


def test_every_metric_has_a_definition_and_a_value(stats):
    k = stats.district_kpi(Q3)
    for metric in METRICS:
        assert metric.definition and metric.label
        k.value(metric.key)  # every published key exists on Kpi
        if metric.numerator:
            assert isinstance(k.value(metric.numerator), int) and isinstance(k.value(metric.denominator), int)


def test_period_parsing():
    assert Period.parse("2026Q3") == Period.parse("2026-q3") == Q3
    assert Period.parse("2026").label == "2026年"
    assert Q3.label == "2026年第三季度" and Q3.previous() == Q2 and Period(2026, 1).previous() == Period(2025, 4)
    with pytest.raises(ValueError, match="无法识别"):
        Period.parse("2026Q5")


def test_half_up_rounding_matches_decimal_on_ties_and_random_values() -> None:
    """The fast rounding path gives exactly what Decimal's ROUND_HALF_UP gives on repr()."""
    import random

    from generator.stats import _half_up, _half_up_decimal

    rng = random.Random(20261128)
    values = [0.05, 0.15, 0.25, 1.005, 2.675, 99.95, 99.949, -0.05, -1.25, -0.0, 0.0, 5.0, 1e-07, 123456.5]
    values += [rng.uniform(-1000, 1000) for _ in range(5000)]
    values += [round(rng.uniform(0, 100), rng.randint(1, 4)) for _ in range(5000)]
    for value in values:
        for digits in (1, 2, 3):
            assert _half_up(value, digits) == _half_up_decimal(value, digits), (value, digits)
