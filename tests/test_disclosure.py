"""Complementary suppression: a reader who solves the published totals cannot pin a hidden cell.

The reader here is an integer program (HiGHS through scipy) that knows every published sum,
every shown cell, every inequality between cells of a row and what each mark says, including
how complementary cells are chosen (never below the threshold, never above the smallest cell
still shown in their group).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from generator.disclosure import (
    GRID_COLUMNS,
    HIDDEN,
    SMALL,
    THRESHOLD,
    is_small,
    protect,
    protect_breakdown,
    protect_grids,
)

ROOT = Path(__file__).resolve().parent.parent


def recoverable(values, groups, marks, at_most=()):
    """The sensitive (1–4) hidden cells whose value the published figures pin down."""
    hidden = [k for k in values if k in marks]
    if not hidden:
        return []
    index = {k: i for i, k in enumerate(hidden)}
    lo = np.zeros(len(hidden))
    hi = np.full(len(hidden), np.inf)
    rows, rhs = [], []
    for group in groups:
        shown = [values[k] for k in group if k not in marks]
        all_hidden = len(shown) == 0
        smallest_shown = min((v for v in shown if v >= THRESHOLD), default=np.inf)
        row = np.zeros(len(hidden))
        for k in group:
            if k in marks:
                row[index[k]] = 1
                if marks[k] == SMALL:
                    lo[index[k]], hi[index[k]] = 1, THRESHOLD - 1
                elif not all_hidden and len(group) > 1:
                    lo[index[k]], hi[index[k]] = THRESHOLD, min(hi[index[k]], smallest_shown)
        if len(group) > 1 or not all_hidden:
            rows.append(row)
            rhs.append(sum(values[k] for k in group) - sum(shown))
    ineq = []
    for small, large in at_most:
        if small in marks and large in marks:
            row = np.zeros(len(hidden))
            row[index[small]], row[index[large]] = 1, -1
            ineq.append(row)
        elif small in marks:
            hi[index[small]] = min(hi[index[small]], values[large])
        elif large in marks:
            lo[index[large]] = max(lo[index[large]], values[small])
    constraints = [LinearConstraint(np.array(rows), rhs, rhs)]
    if ineq:
        constraints.append(LinearConstraint(np.array(ineq), -np.inf, 0))
    pinned = []
    for k in hidden:
        if not is_small(values[k]):
            continue
        c = np.zeros(len(hidden))
        c[index[k]] = 1
        ends = []
        for sign in (1, -1):
            result = milp(sign * c, constraints=constraints, integrality=np.ones(len(hidden)),
                          bounds=Bounds(lo, hi))
            assert result.status == 0, f"the published table is inconsistent: {result.message}"
            ends.append(round(sign * result.fun))
        if ends[0] == ends[1]:
            pinned.append(k)
    return pinned


def naive(values):
    return {k: SMALL for k, v in values.items() if is_small(v)}


def flat(by_grid):
    return {(grid, column): mark for grid, marks in by_grid.items() for column, mark in marks.items()}


def grid_table(rows):
    values = {(g, c): r[c] for g, r in rows.items() for c in GRID_COLUMNS}
    groups = [[(g, c) for g in rows] for c in GRID_COLUMNS]
    pairs = [((g, "closed"), (g, "due")) for g in rows]
    return values, groups, pairs


@pytest.mark.parametrize("case, values", [
    ("one small grid", {"网格一": 3, "网格二": 12, "网格三": 20}),
    ("two small grids with a known sum", {"网格一": 1, "网格二": 1, "网格三": 9, "网格四": 30}),
    ("two small grids summing to eight", {"网格一": 4, "网格二": 4, "网格三": 15}),
    ("a small category in a street", {"市容环境": 41, "矛盾纠纷": 2, "安全隐患": 17, "其他": 8}),
    ("the next-smallest ties with a shown cell", {"甲": 2, "乙": 5, "丙": 5, "丁": 9}),
])
def test_naive_suppression_leaks_and_complementary_does_not(case, values):
    groups = [list(values)]
    assert recoverable(values, groups, naive(values)), f"{case}: naive suppression should leak"
    marks = protect(values, groups)
    assert not recoverable(values, groups, marks), f"{case}: {marks}"
    assert all(marks[k] == SMALL for k, v in values.items() if is_small(v) and marks[k] != HIDDEN)
    assert any(m == HIDDEN for m in marks.values())


def test_nothing_is_hidden_without_a_small_cell():
    assert protect_breakdown([("a", 0), ("b", 5), ("c", 40)]) == {}


def test_a_group_with_nothing_left_to_hide_is_withheld_whole():
    marks = protect_breakdown([("a", 1), ("b", 1), ("c", 0)])
    assert marks == {"a": HIDDEN, "b": HIDDEN, "c": HIDDEN}
    values = {"a": 1, "b": 1, "c": 0}
    assert not recoverable(values, [list(values)], marks)


def test_the_grid_table_with_its_closed_not_above_due():
    rows = {"g1": {"received": 3, "due": 2, "closed": 2}, "g2": {"received": 10, "due": 8, "closed": 6},
            "g3": {"received": 20, "due": 12, "closed": 12}}
    values, groups, pairs = grid_table(rows)
    assert recoverable(values, groups, naive(values), pairs)
    marks = flat(protect_grids(rows))
    assert not recoverable(values, groups, marks, pairs)


@st.composite
def grid_rows(draw):
    n = draw(st.integers(2, 6))
    rows = {}
    for i in range(n):
        due = draw(st.integers(0, 14))
        rows[f"g{i}"] = {"received": draw(st.integers(0, 14)), "due": due,
                         "closed": draw(st.integers(0, due))}
    return rows


@settings(max_examples=150, deadline=None)
@given(grid_rows())
def test_no_grid_cell_is_ever_recoverable(rows):
    values, groups, pairs = grid_table(rows)
    marks = flat(protect_grids(rows))
    assert not recoverable(values, groups, marks, pairs), marks
    for key, value in values.items():  # every small cell is hidden; shown cells are exact
        if is_small(value):
            assert key in marks


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 30), min_size=2, max_size=12))
def test_no_category_cell_is_ever_recoverable(counts):
    values = {f"类别{i}": n for i, n in enumerate(counts)}
    marks = protect(values, [list(values)])
    assert not recoverable(values, [list(values)], marks), marks


def test_rows_tied_by_closed_not_above_due_across_hidden_cells():
    """Two hidden 已办结 summing to 3 force their 应结案 to at least 3, which pinned a third."""
    rows = {"g0": {"received": 0, "due": 1, "closed": 0}, "g1": {"received": 0, "due": 2, "closed": 2},
            "g2": {"received": 0, "due": 1, "closed": 1}}
    values, groups, pairs = grid_table(rows)
    marks = flat(protect_grids(rows))
    assert not recoverable(values, groups, marks, pairs), marks


@pytest.fixture(scope="module")
def sample():
    from generator.stats import stats_for_dataset
    from generator.validate import load_dataset

    dataset = load_dataset(ROOT / "data")
    return dataset, stats_for_dataset(dataset)


def test_every_sample_grid_table_as_the_site_shows_it(sample):
    """Each community's grid table, every quarter, read from the views the pages print."""
    from generator.metrics import Level
    from generator.stats import grid_views

    dataset, stats = sample
    hidden_somewhere = 0
    for period in stats.quarters:
        for community in dataset.communities.values():
            if len(community.grids) < 2:
                continue
            views = grid_views(stats, community.grids, period)
            rows = {g.id: {c: stats.get_or_empty(Level.GRID, g.id, period).value(c) for c in GRID_COLUMNS}
                    for g in community.grids}
            values, groups, pairs = grid_table(rows)
            marks = {}
            for grid, view in zip(community.grids, views, strict=True):
                for column in GRID_COLUMNS:
                    figure = view.figures[column]
                    if figure.suppressed:
                        assert figure.text in (SMALL, HIDDEN)
                        marks[(grid.id, column)] = figure.text
                    else:
                        assert figure.value == rows[grid.id][column]
                if (grid.id, "closed") in marks:  # 办结率 = 已办结 ÷ 应结案 would give it back
                    assert view.completion_rate.value is None
            assert not recoverable(values, groups, marks, pairs), (community.id, period, marks)
            hidden_somewhere += bool(marks)
    assert hidden_somewhere, "the sample should have small grid counts for this test to mean anything"


def test_stats_cli_publishes_the_site_grid_figures_and_says_when_it_does_not(sample, capsys):
    import json

    from generator.cli import main

    assert main(["stats", "--data", str(ROOT / "data"), "--level", "grid", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["suppressed"] is True and "小数保护" in out["note"]
    assert all(len(row["period"]) == 6 for row in out["rows"])  # quarters only: a year sums them
    cells = [row[c] for row in out["rows"] for c in GRID_COLUMNS]
    assert SMALL in cells and HIDDEN in cells
    assert not any(is_small(v) for v in cells if isinstance(v, int))
    assert all(row["closed_on_time"] is None and row["top_categories"] == "" for row in out["rows"])

    assert main(["stats", "--data", str(ROOT / "data"), "--level", "grid", "--unsuppressed",
                 "--format", "json"]) == 0
    raw = json.loads(capsys.readouterr().out)
    assert raw["suppressed"] is False and "不得公开" in raw["note"]
    assert any(is_small(row["received"]) for row in raw["rows"])

    assert main(["stats", "--data", str(ROOT / "data"), "--level", "grid", "--period", "2026"]) == 2
    assert "四个季度之和" in capsys.readouterr().err
    assert main(["stats", "--data", str(ROOT / "data"), "--level", "grid", "--period", "2026Q3"]) == 0
    text = capsys.readouterr().out
    assert "已作小数保护" in text.splitlines()[1]
