"""Small counts that cannot be worked back out: primary and complementary suppression.

A published table is a set of *groups*: cells whose sum is published elsewhere (the grids of a
community sum to the community's figure; the categories of a quarter sum to its 上报件数).
Cells of 1 to ``THRESHOLD - 1`` are hidden (*primary* suppression, shown "<5"). A hidden cell
is still recoverable when the published totals, the visible cells and what the marks say about
the hidden ones (primary: 1–4; complementary: at least ``THRESHOLD`` and, since the smallest
visible cell is taken, at most the smallest cell still shown) leave it only one value. Then
the next-smallest visible cell of its group is hidden too (*complementary* suppression, shown
"*"), until every primary cell could take two values or more. When a group has no visible
cell left to take, every cell of it is hidden, zeros included ("*" everywhere).

Two audits decide "could take two values":

* For groups that share no constraint, the values a hidden cell can take are exactly an
  interval, ``[max(lo, S - Σ other hi), min(hi, S - Σ other lo)]`` with ``S`` the hidden
  cells' sum (integers, one equation, box bounds). This is exact and cheap, and it is all a
  category or channel split needs.
* Tables whose rows tie groups together (a grid's 已办结 never exceeds its 应结案) let a
  reader combine the sums: two hidden 已办结 cells summing to 3 force their 应结案 cells to
  sum to at least 3, which can pin the third 应结案 of a column. For those the exact answer
  is an integer program over every published equation and inequality (HiGHS through
  ``scipy.optimize.milp``): the smallest and largest value each primary cell can take. It
  runs only for tables with a small cell, after the interval pass has done the bulk.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from generator.metrics import SUPPRESS_BELOW, SUPPRESSED_TEXT

THRESHOLD = SUPPRESS_BELOW
SMALL = SUPPRESSED_TEXT  # primary: 1 to THRESHOLD - 1
HIDDEN = "*"  # complementary, or a whole group withheld
MARKS = (SMALL, HIDDEN)
INFINITY = float("inf")


def is_small(value: int | None) -> bool:
    return value is not None and 0 < value < THRESHOLD


@dataclass
class _Group:
    cells: list[Hashable]
    withheld: bool = False


class _Table:
    """The cells, their groups and the row inequalities a reader knows, with the marks so far."""

    def __init__(self, values: Mapping[Hashable, int], groups: Iterable[Sequence[Hashable]],
                 at_most: Iterable[tuple[Hashable, Hashable]]):
        self.values = values
        self.groups = [_Group(list(g)) for g in groups if len(g) > 1]  # a lone cell is its total
        self.group_of: dict[Hashable, _Group] = {}
        for group in self.groups:
            for key in group.cells:
                if key in self.group_of:
                    raise ValueError(f"cell {key!r} is in two groups")
                self.group_of[key] = group
        self.pairs = [(a, b) for a, b in at_most if a in self.group_of and b in self.group_of]
        self.partners: dict[Hashable, list[Hashable]] = {}
        for small, large in self.pairs:
            self.partners.setdefault(small, []).append(large)
            self.partners.setdefault(large, []).append(small)
        self.marks: dict[Hashable, str] = {k: SMALL for k in self.group_of if is_small(values[k])}

    # -- what a reader knows of a hidden cell --------------------------------------------------
    def bounds(self, key: Hashable, with_pairs: bool = True) -> tuple[float, float]:
        group = self.group_of[key]
        if group.withheld:
            lo, hi = 0, INFINITY
        elif self.marks[key] == SMALL:
            lo, hi = 1, THRESHOLD - 1
        else:
            shown = [self.values[k] for k in group.cells if k not in self.marks and self.values[k] >= THRESHOLD]
            lo, hi = THRESHOLD, min(shown, default=INFINITY)
        if with_pairs:
            for small, large in self.pairs:  # small <= large; a shown partner bounds a hidden cell
                if key == large and small not in self.marks:
                    lo = max(lo, self.values[small])
                elif key == small and large not in self.marks:
                    hi = min(hi, self.values[large])
        return lo, hi

    def interval_exposed(self, group: _Group) -> list[Hashable]:
        """The primary cells of ``group`` its own sum and bounds pin to one value."""
        hidden = [k for k in group.cells if k in self.marks]
        if not any(is_small(self.values[k]) for k in hidden):
            return []
        bounds = {k: self.bounds(k) for k in hidden}
        total = sum(self.values[k] for k in hidden)
        lo_sum = sum(b[0] for b in bounds.values())
        hi_sum = sum(b[1] for b in bounds.values())
        exposed = []
        for key in hidden:
            if is_small(self.values[key]):
                lo, hi = bounds[key]
                if max(lo, total - (hi_sum - hi)) >= min(hi, total - (lo_sum - lo)):
                    exposed.append(key)
        return exposed

    def exactly_exposed(self) -> list[Hashable]:
        """Every primary cell the whole table pins, sums and inequalities together (MILP)."""
        import numpy as np
        from scipy.optimize import Bounds, LinearConstraint, milp

        hidden = [k for k in self.group_of if k in self.marks]
        index = {k: i for i, k in enumerate(hidden)}
        box = [self.bounds(k, with_pairs=False) for k in hidden]
        lo = np.array([b[0] for b in box], dtype=float)
        hi = np.array([b[1] for b in box], dtype=float)
        rows, rhs = [], []
        for group in self.groups:
            cells = [k for k in group.cells if k in self.marks]
            if cells:
                row = np.zeros(len(hidden))
                row[[index[k] for k in cells]] = 1
                rows.append(row)
                rhs.append(sum(self.values[k] for k in cells))
        ineq = []
        for small, large in self.pairs:
            if small in self.marks and large in self.marks:
                row = np.zeros(len(hidden))
                row[index[small]], row[index[large]] = 1, -1
                ineq.append(row)
            elif small in self.marks:
                hi[index[small]] = min(hi[index[small]], self.values[large])
            elif large in self.marks:
                lo[index[large]] = max(lo[index[large]], self.values[small])
        constraints = [LinearConstraint(np.array(rows), rhs, rhs)]
        if ineq:
            constraints.append(LinearConstraint(np.array(ineq), -np.inf, 0))
        integral = np.ones(len(hidden))
        exposed = []
        for key in hidden:
            if not is_small(self.values[key]):
                continue
            objective = np.zeros(len(hidden))
            objective[index[key]] = 1
            ends = []
            for sign in (1, -1):
                result = milp(sign * objective, constraints=constraints, integrality=integral,
                              bounds=Bounds(lo, hi))
                if result.status != 0:  # cannot happen for true values; stay on the safe side
                    ends = [None, None]
                    break
                ends.append(round(sign * result.fun))
            if ends[0] == ends[1]:
                exposed.append(key)
        return exposed

    # -- hiding more -----------------------------------------------------------------------------
    def hide_more(self, group: _Group) -> bool:
        """Hide the next-smallest shown cell of ``group`` (or all of it); False if already all."""
        if group.withheld:
            return False
        candidates = [k for k in group.cells if k not in self.marks and self.values[k] >= THRESHOLD]
        if candidates:
            self.marks[min(candidates, key=lambda k: (self.values[k], str(k)))] = HIDDEN
        else:
            self.withhold(group)
        return True

    def withhold(self, group: _Group) -> None:
        group.withheld = True
        for key in group.cells:
            self.marks[key] = HIDDEN

    def tied_groups(self, key: Hashable) -> list[_Group]:
        """Groups not yet withheld whose shown cells bound ``key`` through a row inequality."""
        found = {id(self.group_of[p]): self.group_of[p] for p in self.partners.get(key, ())}
        return [g for g in found.values() if not g.withheld]


def protect(
    values: Mapping[Hashable, int],
    groups: Iterable[Sequence[Hashable]],
    at_most: Iterable[tuple[Hashable, Hashable]] = (),
) -> dict[Hashable, str]:
    """The cells to hide and their marks (``SMALL`` or ``HIDDEN``); cells not listed are shown.

    ``groups`` must not share cells (each is one published sum). ``at_most``: pairs
    ``(a, b)`` with ``values[a] <= values[b]`` always (a reader knows it too).
    """
    table = _Table(values, groups, at_most)
    if not table.marks:
        return {}
    while True:
        # the interval pass: cheap, and exact for groups no inequality ties to another
        changed = True
        while changed:
            changed = False
            for group in table.groups:
                for key in table.interval_exposed(group):
                    moved = table.hide_more(group) or any(
                        table.hide_more(g) for g in table.tied_groups(key))
                    changed = changed or moved
                    break
        if not table.pairs:
            return dict(table.marks)
        exposed = table.exactly_exposed()
        if not exposed:
            return dict(table.marks)
        moved = False
        for key in exposed:
            group = table.group_of[key]
            moved = table.hide_more(group) or any(table.hide_more(g) for g in table.tied_groups(key)) or moved
            if not moved:  # its group is withheld: hide the rest of the table's groups
                moved = any(table.hide_more(g) for g in table.groups)
        if not moved:
            return dict(table.marks)  # everything is hidden already


def protect_breakdown(pairs: Sequence[tuple[str, int]]) -> dict[str, str]:
    """Marks for a category or channel split whose total (上报件数) is published."""
    values = {name: count for name, count in pairs}
    return {str(k): v for k, v in protect(values, [list(values)]).items()}


GRID_COLUMNS = ("received", "due", "closed")  # the counts published for each grid


def protect_grids(rows: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, str]]:
    """Marks for a community's grid table: grid id → {column: mark}, one group per column.

    Each column sums to the community's own figure, which is published beside the table;
    a grid's 已办结 never exceeds its 应结案.
    """
    values = {(grid, column): int(row[column]) for grid, row in rows.items() for column in GRID_COLUMNS}
    groups = [[(grid, column) for grid in rows] for column in GRID_COLUMNS]
    marks = protect(values, groups, [((grid, "closed"), (grid, "due")) for grid in rows])
    by_grid: dict[str, dict[str, str]] = {}
    for (grid, column), mark in marks.items():
        by_grid.setdefault(grid, {})[column] = mark
    return by_grid
