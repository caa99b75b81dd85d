"""Case statistics: every figure of ``generator.metrics`` for every period and level, on DuckDB.

Case records can be millions of rows, so they never enter Python. DuckDB reads them from a
``casestore.CaseStore`` (CSV parsed once, with typed time stamps, shared with the open-data
export; Parquet read in place); each case then plays two roles — *intake* (anchored on the report time) and *closure*
(anchored on the due date, see ``metrics.CLOSURE_COHORT``). Additive counts are aggregated once
at the finest level (grid × quarter) and rolled up with ``GROUP BY GROUPING SETS`` to every level
(grid, community, street, district) × period (quarter, year); exact medians come from one
grouping-sets pass over the closed cases' durations; channel and category counts go down to the
community. Only the aggregates come back, fetched as columns, as typed ``Kpi`` records.

``compute_stats`` is the derive stage's entry point; the ``KpiView``/``StatsView`` objects turn
``Kpi`` records into display objects (formatted ``Figure``s, grid-level small counts suppressed)
for templates, and ``pages`` adds the metrics page and the district statistics page.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import duckdb

from generator.disclosure import GRID_COLUMNS, protect_breakdown, protect_grids
from generator.issues import first_line
from generator.memory import without_gc
from generator.metrics import (
    METRICS_BY_KEY,
    RANKING_METRIC,
    RANKING_MIN_DUE,
    RECENT_QUARTERS,
    SUPPRESS_BELOW,
    SUPPRESSED_TEXT,
    Level,
    Period,
    Unit,
)

CLOSED = "已办结"
WITHDRAWN = "已撤销"
SATISFIED_ANSWERS = ("满意", "基本满意")
# resolved_level values, from the lowest level up; resolution rates are cumulative over them.
RESOLUTION_LEVELS = ("网格", "社区", "镇街", "区级")
CASE_COLUMNS = (
    "id", "community", "grid", "channel", "category", "subcategory", "reported_at",
    "accepted_at", "dispatched_at", "due_at", "closed_at", "status", "resolved_level",
    "satisfaction",
)


class StatsError(Exception):
    """The case files could not be read; the message is Chinese and names the file."""


@dataclass(frozen=True, slots=True)
class Kpi:
    """The raw figures of one unit (grid, community, street or district) in one period."""

    level: Level
    unit: str  # grid id, community id, street id or the district code
    period: Period
    received: int = 0
    accepted: int = 0
    withdrawn: int = 0
    due: int = 0
    closed: int = 0
    closed_on_time: int = 0
    handling_days_mean: float | None = None
    handling_days_median: float | None = None
    resolved_at_grid: int = 0  # closed cases by resolved_level (not cumulative)
    resolved_at_community: int = 0
    resolved_at_street: int = 0
    resolved_at_district: int = 0
    answered: int = 0
    satisfied: int = 0  # 满意 + 基本满意
    channels: tuple[tuple[str, int], ...] = ()  # by count, descending
    categories: tuple[tuple[str, int], ...] = ()
    community: str | None = None  # the parent community of a grid
    street: str | None = None  # the parent street of a grid or community

    # Counts the rates are made of (names used by metrics.Metric.numerator/denominator).
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Pickled as its values, so the cache restores it through the constructor: restoring a
        # frozen, slotted dataclass field by field is ten times slower, and a city has
        # 100,000 and more of these.
        return (Kpi, tuple(getattr(self, name) for name in _KPI_FIELDS))

    @property
    def overdue_open(self) -> int:
        return self.due - self.closed

    @property
    def resolved_in_grid(self) -> int:
        return self.resolved_at_grid

    @property
    def resolved_in_community(self) -> int:
        return self.resolved_at_grid + self.resolved_at_community

    @property
    def resolved_in_street(self) -> int:
        return self.resolved_in_community + self.resolved_at_street

    @property
    def acceptance_rate(self) -> float | None:
        return _ratio(self.accepted, self.received)

    @property
    def completion_rate(self) -> float | None:
        return _ratio(self.closed, self.due)

    @property
    def on_time_rate(self) -> float | None:
        return _ratio(self.closed_on_time, self.due)

    @property
    def grid_resolution_rate(self) -> float | None:
        return _ratio(self.resolved_in_grid, self.closed)

    @property
    def community_resolution_rate(self) -> float | None:
        return _ratio(self.resolved_in_community, self.closed)

    @property
    def street_resolution_rate(self) -> float | None:
        return _ratio(self.resolved_in_street, self.closed)

    @property
    def satisfaction_rate(self) -> float | None:
        return _ratio(self.satisfied, self.answered)

    def top_categories(self, n: int = 3) -> list[tuple[str, int]]:
        return list(self.categories[:n])

    def value(self, key: str) -> int | float | None:
        return getattr(self, key)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


_KPI_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Kpi))


@dataclass
class SiteStats:
    """All KPIs, looked up by (level, unit, period). Built once per build by ``compute_stats``."""

    as_of: dt.datetime | None  # the latest time stamp in the case records (数据截至)
    quarters: list[Period]  # every quarter with cases, oldest first
    years: list[Period]
    district_code: str  # the district code used as the district-level unit
    kpis: dict[tuple[Level, str, Period], Kpi] = field(default_factory=dict)
    # What the figures were computed from (the cache's keys: the case files' bytes, the code,
    # the community map, the district and the cut-off); None when not known. Pages showing the
    # figures are rendered again only when it changes (``generator.depends``).
    identity: str | None = None

    def get(self, level: Level, unit: str, period: Period) -> Kpi | None:
        return self.kpis.get((level, unit, period))

    def get_or_empty(self, level: Level, unit: str, period: Period) -> Kpi:
        return self.kpis.get((level, unit, period)) or Kpi(level, unit, period)

    def district_kpi(self, period: Period) -> Kpi:
        return self.get_or_empty(Level.DISTRICT, self.district_code, period)

    def previous(self, kpi: Kpi) -> Kpi | None:
        return self.get(kpi.level, kpi.unit, kpi.period.previous())

    def year_before(self, kpi: Kpi) -> Kpi | None:
        return self.get(kpi.level, kpi.unit, kpi.period.year_before())

    def units(self, level: Level, period: Period) -> list[Kpi]:
        return [k for (lv, _u, p), k in self.kpis.items() if lv is level and p == period]

    @property
    def latest_quarter(self) -> Period | None:
        return self.quarters[-1] if self.quarters else None

    def recent_quarters(self, n: int = RECENT_QUARTERS, until: Period | None = None) -> list[Period]:
        quarters = [q for q in self.quarters if until is None or q <= until]
        return quarters[-n:]

    def is_complete(self, period: Period) -> bool:
        """True when the period ended before the data's cut-off time."""
        return self.as_of is not None and self.as_of >= dt.datetime.combine(period.end, dt.time())

    def ranking(self, period: Period, minimum_due: int = RANKING_MIN_DUE) -> Ranking:
        """Communities by on-time completion rate; only those with enough cases due."""
        eligible, excluded = [], 0
        for kpi in self.units(Level.COMMUNITY, period):
            if kpi.due >= minimum_due:
                eligible.append(kpi)
            else:
                excluded += 1
        eligible.sort(key=lambda k: (-(getattr(k, RANKING_METRIC) or 0.0), -k.due, k.unit))
        entries, rank, last = [], 0, None
        for position, kpi in enumerate(eligible, start=1):
            value = getattr(kpi, RANKING_METRIC)
            if value != last:  # equal rates share a rank (1, 2, 2, 4)
                rank, last = position, value
            entries.append(RankEntry(rank, kpi))
        return Ranking(period, minimum_due, entries, excluded)


@dataclass(frozen=True)
class RankEntry:
    rank: int
    kpi: Kpi


@dataclass(frozen=True)
class Ranking:
    period: Period
    minimum_due: int
    entries: list[RankEntry]
    excluded: int  # communities with cases but fewer due than the minimum


# ----------------------------------------------------------------------------- reading


def case_files_in(data_dir: Path) -> list[Path]:
    """The case files of a data folder: data/cases/**/*.csv and *.parquet, sorted."""
    folder = Path(data_dir) / "cases"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".csv", ".parquet"))


# Time stamps become TIMESTAMP (parsed from CSV text with ``try_cast``; typed Parquet columns
# as they are, which is what `gongzhi synth` and platform exports write); the rest is text.
TYPED_COLUMNS = {c: "TIMESTAMP" for c in CASE_COLUMNS if c.endswith("_at")}


# Columns every case file must have for the figures (the contract requires them too); the
# optional ones (accepted_at, due_at, closed_at, resolved_level, satisfaction) may be left out
# of a file, and its cases then count as having no such value.
_REQUIRED_COLUMNS = ("community", "grid", "channel", "category", "reported_at", "status")


def _typed_cases(store) -> str:
    """The case rows with typed time stamps."""
    return store.sources(CASE_COLUMNS, TYPED_COLUMNS)


# Stage 0: the case records with typed time stamps and the street of each community. Over
# Parquet files a view, read by each stage (the scans keep only the columns a query uses);
# CSV text is parsed once into a scratch table (parsing costs more than reading it back).
_SLIM = """
CREATE OR REPLACE {kind} slim AS
SELECT c.community, c.grid, m.street, c.channel, c.category, c.status, c.resolved_level,
       nullif(c.satisfaction, '') AS satisfaction,
       c.reported_at, c.accepted_at, c.due_at, c.closed_at
FROM {cases} c LEFT JOIN community_streets m USING (community)
"""

_AS_OF = "SELECT greatest(max(reported_at), max(accepted_at), max(closed_at)) FROM slim"

# Stage 1: additive counts at the finest level (grid × quarter). Each case counts in two
# cohorts: intake (anchored on the report time) and closure (anchored on the due date; see
# metrics.CLOSURE_COHORT), aggregated separately and joined (both are small).
_FINE = f"""
CREATE OR REPLACE TABLE fine AS
WITH intake AS (
    SELECT year(reported_at) * 10 + quarter(reported_at) AS qkey, street, community, grid,
        count(*) AS received, count(accepted_at) AS accepted,
        count(*) FILTER (WHERE status = '{WITHDRAWN}') AS withdrawn
    FROM slim WHERE reported_at IS NOT NULL
    GROUP BY ALL
),
closure AS (
    SELECT year(anchor) * 10 + quarter(anchor) AS qkey, street, community, grid,
        count(*) AS due,
        count(*) FILTER (WHERE is_closed) AS closed,
        count(*) FILTER (WHERE is_closed AND (due_at IS NULL OR closed_at <= due_at)) AS closed_on_time,
        -- whole microseconds: an exact integer sum, the same in whatever order threads add it
        sum(epoch_us(closed_at) - epoch_us(reported_at)) FILTER (WHERE is_closed) AS handling_us,
        count(closed_at) FILTER (WHERE is_closed AND reported_at IS NOT NULL) AS handling_n,
        count(*) FILTER (WHERE is_closed AND resolved_level = '{RESOLUTION_LEVELS[0]}') AS at_grid,
        count(*) FILTER (WHERE is_closed AND resolved_level = '{RESOLUTION_LEVELS[1]}') AS at_community,
        count(*) FILTER (WHERE is_closed AND resolved_level = '{RESOLUTION_LEVELS[2]}') AS at_street,
        count(*) FILTER (WHERE is_closed AND resolved_level = '{RESOLUTION_LEVELS[3]}') AS at_district,
        count(*) FILTER (WHERE is_closed AND satisfaction IS NOT NULL) AS answered,
        count(*) FILTER (WHERE is_closed AND satisfaction IN {SATISFIED_ANSWERS}) AS satisfied
    FROM (SELECT *, coalesce(due_at, closed_at) AS anchor, status = '{CLOSED}' AS is_closed FROM slim
          WHERE status IS DISTINCT FROM '{WITHDRAWN}')
    WHERE anchor IS NOT NULL AND (is_closed OR anchor <= $as_of)
    GROUP BY ALL
)
SELECT coalesce(i.qkey, c.qkey) AS qkey, coalesce(i.qkey, c.qkey) // 10 AS ykey,
    coalesce(i.street, c.street) AS street, coalesce(i.community, c.community) AS community,
    coalesce(i.grid, c.grid) AS grid,
    coalesce(received, 0) AS received, coalesce(accepted, 0) AS accepted,
    coalesce(withdrawn, 0) AS withdrawn, coalesce(due, 0) AS due, coalesce(closed, 0) AS closed,
    coalesce(closed_on_time, 0) AS closed_on_time, handling_us, coalesce(handling_n, 0) AS handling_n,
    coalesce(at_grid, 0) AS at_grid, coalesce(at_community, 0) AS at_community,
    coalesce(at_street, 0) AS at_street, coalesce(at_district, 0) AS at_district,
    coalesce(answered, 0) AS answered, coalesce(satisfied, 0) AS satisfied
FROM intake i FULL OUTER JOIN closure c
  ON i.qkey = c.qkey AND coalesce(i.street, '') = coalesce(c.street, '')
 AND coalesce(i.community, '') = coalesce(c.community, '') AND coalesce(i.grid, '') = coalesce(c.grid, '')
"""

# Channel and category counts of reported cases, per community × quarter (shares are shown
# down to the community; grids are too small to show them without disclosing cases).
_SPLITS = """
CREATE OR REPLACE TABLE splits AS
SELECT qkey, ykey, street, community, channel, category, count(*) AS n
FROM (SELECT *, year(reported_at) * 10 + quarter(reported_at) AS qkey, year(reported_at) AS ykey
      FROM slim WHERE reported_at IS NOT NULL)
GROUP BY GROUPING SETS ((qkey, ykey, street, community, channel), (qkey, ykey, street, community, category))
"""


def _sets(units: tuple[str, ...]) -> str:
    return ", ".join(
        f"({period}{', ' + ', '.join(units[:n]) if n else ''})"
        for period in ("qkey", "ykey")
        for n in range(len(units), -1, -1)
    )


_GROUPS = _sets(("street", "community", "grid"))
_FLAGS = "GROUPING(qkey) AS by_year, GROUPING(street) AS no_street, GROUPING(community) AS no_community"
_KEY = ("by_year", "no_street", "no_community", "no_grid", "qkey", "ykey", "street", "community", "grid")

# Stage 2: roll the fine table up to every level and period; medians (not additive) from the
# durations of the closed cases; channel/category maps; all joined on the grouping key.
# Exact medians for every grouping set in one pass over the closed cases, read straight from
# the case files (no scratch copy of the durations).
_MEDIANS = f"""
CREATE OR REPLACE TABLE medians AS
SELECT {_FLAGS}, GROUPING(grid) AS no_grid, qkey, ykey, street, community, grid,
    median(days) AS handling_median
FROM (
    SELECT street, community, grid, year(anchor) * 10 + quarter(anchor) AS qkey, year(anchor) AS ykey,
           epoch(closed_at - reported_at) / 86400.0 AS days
    FROM (SELECT *, coalesce(due_at, closed_at) AS anchor FROM slim WHERE status = '{CLOSED}')
    WHERE anchor IS NOT NULL AND closed_at IS NOT NULL AND reported_at IS NOT NULL
)
GROUP BY GROUPING SETS ({_GROUPS})
"""

def _same(left: str, right: str, key: str) -> str:
    """Equal keys, NULL equal to NULL, in a form DuckDB hash-joins."""
    empty = "-1" if key in ("qkey", "ykey") else "''" if key in ("street", "community", "grid") else "-1"
    return f"coalesce({left}.{key}, {empty}) = coalesce({right}.{key}, {empty})"


# Channel and category counts come back as one string per unit ("name\x1fn\x1ename\x1fn"),
# ordered by count descending then name: far cheaper to fetch than a map per row.
_FIELD, _ITEM = "\x1f", "\x1e"

_STATS = f"""
WITH counts AS (
    SELECT {_FLAGS}, GROUPING(grid) AS no_grid, qkey, ykey, street, community, grid,
        sum(received)::BIGINT AS received, sum(accepted)::BIGINT AS accepted,
        sum(withdrawn)::BIGINT AS withdrawn, sum(due)::BIGINT AS due, sum(closed)::BIGINT AS closed,
        sum(closed_on_time)::BIGINT AS closed_on_time,
        sum(handling_us) / 86400000000.0 / nullif(sum(handling_n), 0) AS handling_mean,
        sum(at_grid)::BIGINT AS at_grid, sum(at_community)::BIGINT AS at_community,
        sum(at_street)::BIGINT AS at_street, sum(at_district)::BIGINT AS at_district,
        sum(answered)::BIGINT AS answered, sum(satisfied)::BIGINT AS satisfied
    FROM fine GROUP BY GROUPING SETS ({_GROUPS})
),
split_sums AS (
    SELECT {_FLAGS}, 1 AS no_grid, qkey, ykey, street, community, NULL::VARCHAR AS grid,
        channel, category, sum(n)::BIGINT AS n
    FROM splits
    GROUP BY GROUPING SETS ({_sets(("street", "community")).replace(")", ", channel, category)").replace("(", "(")})
),
maps AS (
    SELECT {", ".join(_KEY)},
        string_agg(channel || '{_FIELD}' || n, '{_ITEM}' ORDER BY n DESC, channel)
            FILTER (WHERE channel IS NOT NULL) AS channels,
        string_agg(category || '{_FIELD}' || n, '{_ITEM}' ORDER BY n DESC, category)
            FILTER (WHERE category IS NOT NULL) AS categories
    FROM split_sums GROUP BY ALL
)
SELECT c.by_year, c.no_street, c.no_community, c.no_grid, c.qkey, c.ykey, c.street, c.community, c.grid,
    c.received, c.accepted, c.withdrawn, mp.channels, mp.categories, c.due, c.closed, c.closed_on_time,
    c.handling_mean, md.handling_median, c.at_grid, c.at_community, c.at_street, c.at_district,
    c.answered, c.satisfied
FROM counts c
LEFT JOIN medians md ON {" AND ".join(_same("c", "md", k) for k in _KEY)}
LEFT JOIN maps mp ON {" AND ".join(_same("c", "mp", k) for k in _KEY)}
"""


def compute_stats(
    case_files: Sequence[Path],
    community_streets: Mapping[str, str],
    district: str = "district",
    as_of: dt.datetime | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    store: Any = None,
) -> SiteStats:
    """Compute every KPI for every period and level: one read of the case files, then rollups.

    ``community_streets`` maps community id → street id (from the dataset). ``as_of`` is the
    cut-off time for "overdue"; by default the latest time stamp found in the case records.
    ``store``: a ``CaseStore`` of these files already open (the build's, shared with the
    open-data export); otherwise one is opened for this call. Raises ``StatsError`` (Chinese
    message) when a file cannot be read.
    """
    from generator.casestore import CaseStore, CaseStoreError

    opened = CaseStore(case_files, threads=threads, memory_limit=memory_limit, typed=TYPED_COLUMNS) if store is None else None
    with opened or nullcontext(store) as store:
        con = store.con
        try:
            store.load()
        except CaseStoreError as exc:
            raise StatsError(f"读取事件记录失败：{exc}") from exc
        missing = store.missing(_REQUIRED_COLUMNS)
        if missing:
            path, lacking = next(iter(missing.items()))
            raise StatsError(f"读取事件记录失败：{path.name} 缺少列 {'、'.join(lacking)}")
        con.execute("SET preserve_insertion_order = false")
        con.execute("CREATE OR REPLACE TEMP TABLE community_streets (community VARCHAR PRIMARY KEY, street VARCHAR)")
        if community_streets:
            # One statement with two list parameters (executemany costs a statement per row).
            con.execute("INSERT INTO community_streets SELECT unnest($1::VARCHAR[]), unnest($2::VARCHAR[])",
                        [list(community_streets.keys()), list(community_streets.values())])
        try:
            # OR REPLACE: a store may be counted twice (a guessed street map that proved wrong)
            kind = "TABLE" if store.csv_files else "TEMP VIEW"
            con.execute(_SLIM.format(kind=kind, cases=_typed_cases(store)))
            if as_of is None:
                as_of = con.execute(_AS_OF).fetchone()[0]
            con.execute(_FINE, {"as_of": as_of or dt.datetime.max})
            con.execute(_SPLITS)
            con.execute(_MEDIANS)
            columns = _fetch_columns(con.execute(_STATS))
        except duckdb.Error as exc:
            raise StatsError(f"读取事件记录失败：{first_line(exc)}") from exc
    # Hundreds of thousands of small records: the cyclic garbage collector would scan them again
    # and again while they are made (none of them forms a cycle).
    with without_gc():
        return _assemble(columns, district, as_of)


def _fetch_columns(result: duckdb.DuckDBPyConnection) -> list[list]:
    """The result's columns as Python lists (NULL as None), by way of NumPy: far faster than
    fetching hundreds of thousands of row tuples."""
    import numpy as np

    columns = []
    for array in result.fetchnumpy().values():
        if isinstance(array, np.ma.MaskedArray) and not np.ma.is_masked(array):
            array = array.data
        columns.append(array.tolist())
    return columns


def _parse_split(text: str | None) -> tuple[tuple[str, int], ...]:
    if not text:
        return ()
    pairs = []
    for item in text.split(_ITEM):
        name, _, n = item.rpartition(_FIELD)
        pairs.append((name, int(n)))
    return tuple(pairs)


def _assemble(columns: Sequence[list], district: str, as_of: dt.datetime | None) -> SiteStats:
    kpis: dict[tuple[Level, str, Period], Kpi] = {}
    quarters: set[Period] = set()
    years: set[Period] = set()
    period_cache: dict[int, Period] = {}
    for (by_year, no_street, no_community, no_grid, qkey, ykey, street, community, grid,
         received, accepted, withdrawn, channels, categories, due, closed, on_time,
         h_mean, h_median, at_grid, at_community, at_street, at_district, answered,
         satisfied) in zip(*columns, strict=True):
        key = ykey if by_year else qkey
        period = period_cache.get(key)
        if period is None:
            period = Period(key) if by_year else Period(key // 10, key % 10)
            period_cache[key] = period
            (years if by_year else quarters).add(period)
        if not no_grid:
            level, unit = Level.GRID, grid
        elif not no_community:
            level, unit = Level.COMMUNITY, community
        elif not no_street:
            level, unit = Level.STREET, street
        else:
            level, unit = Level.DISTRICT, district
        if unit is None:  # e.g. a community missing from the dataset has no street
            continue
        kpis[(level, unit, period)] = Kpi(
            level, unit, period, received, accepted, withdrawn, due, closed, on_time,
            h_mean, h_median, at_grid, at_community, at_street, at_district, answered,
            satisfied, _parse_split(channels), _parse_split(categories),
            community if level is Level.GRID else None,
            street if level in (Level.GRID, Level.COMMUNITY) else None,
        )
    # Periods are listed up to the last one in which cases were reported: later ones hold only
    # cases closed ahead of a due date in the future (or closed after the quarter's end).
    reported = {p for (lv, _u, p), k in kpis.items() if lv is Level.DISTRICT and k.received}
    return SiteStats(as_of, _listed(quarters, reported), _listed(years, reported), district, kpis)


def _listed(periods: set[Period], reported: set[Period]) -> list[Period]:
    """Every period from the first with cases to the last with reported cases, without gaps.

    Later periods stay reachable with ``SiteStats.get`` but are not listed until cases are
    reported in them.
    """
    if not periods:
        return []
    last = max(reported & periods) if reported & periods else max(periods)
    listed, period = [], min(periods)
    while period <= last:
        listed.append(period)
        period = Period(period.year + 1) if not period.is_quarter else (
            Period(period.year + 1, 1) if period.quarter == 4 else Period(period.year, period.quarter + 1))
    return listed


def community_streets(dataset) -> dict[str, str]:
    """community id → street id, the map the statistics roll communities up with."""
    return {cid: c.street for cid, c in dataset.communities.items()}


# Statistics are kept in the result cache in two levels: under the case files' bytes and the
# source of the modules that define the figures, a few results keyed by the community → street
# map, the district and the cut-off. A build looks up the first level before it has read the
# YAML (to know whether the case files must be parsed at all) and the second once it has.
_KEEP_MAPS = 4


def _stats_cache(data_dir: Path):
    from generator import cache as result_cache

    return result_cache.ResultCache(result_cache.cache_root(data_dir), "stats", keep=4)


def _files_key(cache, files: Sequence[Path]) -> str:
    from generator import cache as result_cache
    from generator import metrics

    return result_cache.make_key(
        result_cache.source_digest(sys.modules[__name__], metrics), duckdb.__version__,
        result_cache.describe(files, cache.folder.parent),
    )


def _map_key(mapping: Mapping[str, str], district: str, as_of: dt.datetime | None) -> str:
    from generator import cache as result_cache

    return result_cache.make_key(sorted(mapping.items()), district, as_of.isoformat() if as_of else None)


def has_cached_stats(files: Sequence[Path], data_dir: Path) -> bool:
    """Whether the cache holds statistics of these case files' bytes (for some community map)."""
    cache = _stats_cache(data_dir)
    return cache.enabled and cache.has(_files_key(cache, files))


def stats_for_files(
    files: Sequence[Path],
    mapping: Mapping[str, str],
    district: str,
    data_dir: Path,
    as_of: dt.datetime | None = None,
    store: Any = None,
) -> SiteStats:
    """The statistics of these case files, from the result cache or computed (and kept)."""
    cache = _stats_cache(data_dir)
    files_key = _files_key(cache, files) if cache.enabled else None
    entry = cache.get(files_key) if files_key else None
    entry = entry if isinstance(entry, dict) else {}
    map_key = _map_key(mapping, district, as_of)
    found = entry.get(map_key)
    if isinstance(found, SiteStats):
        found.identity = f"{files_key}/{map_key}"
        return found
    stats = compute_stats(files, mapping, district=district, as_of=as_of, store=store)
    if files_key:
        kept = {k: v for k, v in entry.items() if k != map_key}
        cache.put(files_key, {**dict(list(kept.items())[-(_KEEP_MAPS - 1):]), map_key: stats})
        stats.identity = f"{files_key}/{map_key}"
    return stats


def stats_for_dataset(dataset, as_of: dt.datetime | None = None) -> SiteStats:
    """The derive stage: statistics of a loaded ``Dataset`` (its case files and communities)."""
    files = list(dataset.case_files) or case_files_in(dataset.root)
    return stats_for_files(files, community_streets(dataset), dataset.district.code, Path(dataset.root), as_of)


# ----------------------------------------------------------------------------- display

# The view objects below are what templates receive: every number already formatted, grid-level
# small counts already suppressed. Templates print them; they never compute.


@dataclass(frozen=True)
class Figure:
    """One formatted figure. ``value`` is None when missing or suppressed."""

    value: int | float | None
    text: str
    suppressed: bool = False

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Change:
    """A change against an earlier period: "+2.1 个百分点", "−12.5%", "持平" or "—"."""

    value: float | None
    text: str
    direction: str  # up, down, flat, none

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Share:
    name: str
    count: Figure
    share: Figure


MISSING = Figure(None, "—")
NO_CHANGE = Change(None, "—", "none")


def format_count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def format_rate(value: float | None) -> str:
    return "—" if value is None else f"{_half_up(value * 100, 1)}%"


def format_days(value: float | None) -> str:
    return "—" if value is None else f"{_half_up(value, 1)} 天"


def _half_up(value: float, digits: int) -> str:
    """``value`` rounded half away from zero at ``digits`` decimals of its shortest decimal
    form (``repr``), as ``Decimal(repr(value)).quantize(..., ROUND_HALF_UP)`` gives it."""
    text = repr(value)
    whole, dot, fraction = text.partition(".")
    if digits > 0 and dot and whole.lstrip("-").isdigit() and fraction.isdigit():
        negative = whole.startswith("-")
        scaled = int(whole.lstrip("-") + fraction[:digits].ljust(digits, "0"))
        if len(fraction) > digits and fraction[digits] >= "5":
            scaled += 1
        head, tail = divmod(scaled, 10**digits)
        return f"{'-' if negative else ''}{head}.{tail:0{digits}d}"
    return _half_up_decimal(value, digits)


def _half_up_decimal(value: float, digits: int) -> str:
    from decimal import ROUND_HALF_UP, Decimal

    quant = Decimal(1).scaleb(-digits)
    return f"{Decimal(repr(value)).quantize(quant, rounding=ROUND_HALF_UP):.{digits}f}"


def format_metric(key: str, value: int | float | None) -> str:
    unit = METRICS_BY_KEY[key].unit
    if unit is Unit.RATE:
        return format_rate(value)
    if unit is Unit.DAYS:
        return format_days(value)
    return format_count(value)  # type: ignore[arg-type]


def change_between(key: str, current: Kpi | None, earlier: Kpi | None) -> Change:
    """Rates change in percentage points; counts and durations in per cent."""
    if current is None or earlier is None:
        return NO_CHANGE
    now, then = current.value(key), earlier.value(key)
    if now is None or then is None:
        return NO_CHANGE
    if METRICS_BY_KEY[key].unit is Unit.RATE:
        delta = (now - then) * 100
        text = f"{_half_up(abs(delta), 1)} 个百分点"
    else:
        if then == 0:
            return NO_CHANGE
        delta = (now - then) / then * 100
        text = f"{_half_up(abs(delta), 1)}%"
    if _half_up(abs(delta), 1) == "0.0":
        return Change(0.0, "持平", "flat")
    sign, direction = ("+", "up") if delta > 0 else ("−", "down")
    return Change(delta, sign + text, direction)


# Which count each figure rests on, for suppression at grid level.
_BASIS = {
    "acceptance_rate": "received", "completion_rate": "due", "on_time_rate": "due",
    "handling_days_mean": "closed", "handling_days_median": "closed",
    "grid_resolution_rate": "closed", "community_resolution_rate": "closed",
    "street_resolution_rate": "closed", "satisfaction_rate": "answered",
}


class _Lazy(dict):
    """A dict that computes a missing entry once, on first use (templates use a few)."""

    def __init__(self, compute):
        super().__init__()
        self._compute = compute

    def __missing__(self, key: str):
        value = self[key] = self._compute(key)
        return value


class _Units(dict):
    """Views made the first time they are asked for (``StatsView``); what making one read is
    noted again for every page that uses it (``depends.remembered``). An unknown key raises
    ``KeyError`` and is not kept."""

    def __init__(self, make: Any) -> None:
        super().__init__()
        self._make = make

    def __getitem__(self, key: str) -> Any:
        from generator import depends

        try:
            value, reads = dict.__getitem__(self, key)
        except KeyError:
            value, reads = depends.remembered(lambda: self._make(key))
            dict.__setitem__(self, key, (value, reads))
            return value
        depends.replay(reads)
        return value


class KpiView:
    """Formatted figures of one unit in one period; ``view.on_time_rate`` is a ``Figure``.

    Figures and changes are formatted when first used: a build makes views for every community
    over several quarters, and pages show only some figures of each.
    """

    def __init__(self, kpi: Kpi, name: str, previous: Kpi | None = None,
                 year_before: Kpi | None = None, complete: bool = True, suppress: bool = False,
                 hidden: Mapping[str, str] | None = None):
        self.kpi = kpi
        # grid views: the marks of this grid's counts from disclosure.protect_grids
        self.hidden = hidden or {}
        self.level = kpi.level
        self.unit = kpi.unit
        self.name = name
        self.period = kpi.period
        self.complete = complete
        self.suppressed = suppress
        self.figures: dict[str, Figure] = _Lazy(self._figure)
        # Comparisons would undo the suppression of small counts, so grids get none.
        self.vs_previous: dict[str, Change] = {} if suppress else _Lazy(
            lambda key: change_between(key, kpi, previous))
        self.vs_year_before: dict[str, Change] = {} if suppress else _Lazy(
            lambda key: change_between(key, kpi, year_before))

    def _figure(self, key: str) -> Figure:
        metric = METRICS_BY_KEY[key]  # KeyError for unknown keys
        value = self.kpi.value(key)
        if key in self.hidden:
            return Figure(None, self.hidden[key], True)
        if self.suppressed:  # a grid: see disclosure and the metrics page's note
            if metric.unit is Unit.COUNT:
                if key not in GRID_COLUMNS:
                    return Figure(None, "—", True)  # not published by grid: its column has no protection
                if 0 < value < SUPPRESS_BELOW:
                    return Figure(None, SUPPRESSED_TEXT, True)
            else:
                basis = _BASIS[key]
                if (self.kpi.value(basis) < SUPPRESS_BELOW or basis in self.hidden
                        or metric.numerator in self.hidden):  # 办结率 would give a hidden 已办结 back
                    return Figure(None, "—", True)
        return Figure(value, format_metric(key, value))

    @property
    def period_label(self) -> str:
        return self.period.label

    @property
    def short_label(self) -> str:
        return self.period.short_label

    @property
    def categories(self) -> list[Share]:
        return [] if self.suppressed else _shares(self.kpi.categories, self.kpi.received)

    @property
    def channels(self) -> list[Share]:
        return [] if self.suppressed else _shares(self.kpi.channels, self.kpi.received)

    @property
    def top_categories(self) -> list[Share]:
        return self.categories[:3]

    def __getattr__(self, key: str) -> Figure:
        figures = self.__dict__.get("figures")
        if figures is not None:
            try:
                return figures[key]
            except KeyError:
                pass
        raise AttributeError(key)

    def change(self, key: str, against: str = "previous") -> Change:
        table = self.vs_previous if against == "previous" else self.vs_year_before
        return table[key] if table or isinstance(table, _Lazy) else NO_CHANGE


def _shares(counts: tuple[tuple[str, int], ...], total: int) -> list[Share]:
    """A category or channel split, small cells and their complements hidden (``disclosure``)."""
    marks = protect_breakdown(counts)
    shares = []
    for name, n in counts:
        if name in marks:
            shares.append(Share(name, Figure(None, marks[name], True), Figure(None, "—", True)))
        else:
            shares.append(Share(name, Figure(n, format_count(n)),
                                Figure(n / total if total else None, format_rate(n / total if total else None))))
    return shares


@dataclass(frozen=True)
class MetricRow:
    """One row of a KPI table: a figure over several periods and its latest changes."""

    key: str
    label: str
    figures: list[Figure]
    vs_previous: Change
    vs_year_before: Change


@dataclass
class UnitStats:
    """What a street or community page shows: recent quarters, a trend chart, the table."""

    level: Level
    unit: str
    name: str
    quarters: list[KpiView]  # oldest first
    rows: list[MetricRow]
    chart: object | None = None  # charts.Chart
    grids: list[KpiView] = field(default_factory=list)  # latest quarter, suppressed

    @property
    def latest(self) -> KpiView:
        return self.quarters[-1]

    @property
    def has_cases(self) -> bool:
        return any(v.figures["received"].value or v.figures["due"].value for v in self.quarters)


@dataclass(frozen=True)
class RankRow:
    rank: int
    community: str  # id
    name: str
    street: str
    view: KpiView


@dataclass
class RankingView:
    period: Period
    minimum_due: int
    rows: list[RankRow]
    excluded: int
    metric_label: str
    note: str


@dataclass
class DistrictHeadline:
    """Raw figures for the portal's home-page summary table (formatted there by filters)."""

    cases: int
    period_label: str
    grid_resolution_rate: float | None


@dataclass
class StatsView:
    """``ctx.derived["stats"]``: everything the portal's pages show about cases.

    A street's or community's view (``street``, ``community``) and the ranking are made the
    first time a page asks for them: a rebuild that renders a few pages makes a few views, and
    what each view reads of the data is read while its page renders (``generator.depends``
    notes it for that page)."""

    stats: SiteStats
    as_of: dt.datetime | None
    latest: Period | None  # the latest quarter (may still be running)
    ranked: Period | None  # the quarter the ranking uses: the latest complete one
    district: DistrictHeadline | None
    district_stats: UnitStats | None
    streets: dict[str, UnitStats]  # made on first use (``_Lazy``): ask with ``street``
    communities: dict[str, UnitStats]  # made on first use: ask with ``community``
    make_ranking: Any = None  # () -> RankingView | None
    street_ids: list[str] = field(default_factory=list)  # every street, in order

    def community(self, community_id: str) -> UnitStats | None:
        try:
            return self.communities[community_id]
        except KeyError:
            return None

    def street(self, street_id: str) -> UnitStats | None:
        try:
            return self.streets[street_id]
        except KeyError:
            return None

    @property
    def ranking(self) -> RankingView | None:
        return self._once["ranking"]

    @property
    def street_rows(self) -> list[KpiView]:
        """Every street in the latest quarter."""
        return self._once["street_rows"]

    @functools.cached_property
    def _once(self) -> _Units:
        def make(name: str) -> Any:
            if name == "ranking":
                return self.make_ranking() if self.make_ranking is not None else None
            views = (self.street(sid) for sid in self.street_ids)
            return [s.latest for s in views if s is not None and s.quarters]

        return _Units(make)

    @property
    def as_of_label(self) -> str:
        if self.as_of is None:
            return "—"
        return f"{self.as_of.year}年{self.as_of.month}月{self.as_of.day}日"


def unit_stats(stats: SiteStats, level: Level, unit: str, name: str, quarters: list[Period],
               chart_specs: list | None = None) -> UnitStats:
    from generator.charts import line_chart
    from generator.metrics import HEADLINE, METRICS_BY_KEY

    views = []
    for quarter in quarters:
        kpi = stats.get_or_empty(level, unit, quarter)
        views.append(KpiView(kpi, name, stats.previous(kpi), stats.year_before(kpi),
                             stats.is_complete(quarter)))
    latest = views[-1] if views else None
    rows = [
        MetricRow(key, METRICS_BY_KEY[key].label, [v.figures[key] for v in views],
                  latest.change(key) if latest else NO_CHANGE,
                  latest.change(key, "year") if latest else NO_CHANGE)
        for key in (*HEADLINE[:1], "accepted", *HEADLINE[1:3], "overdue_open", *HEADLINE[3:], "answered")
    ]
    result = UnitStats(level, unit, name, views, rows)
    if chart_specs is not None and views:
        series = [(METRICS_BY_KEY[k].label, [v.figures[k].value for v in views])
                  for k in ("on_time_rate", "grid_resolution_rate", "satisfaction_rate")]
        chart_specs.append((result, line_chart(f"{name}：近{len(views)}个季度趋势",
                                               [v.short_label for v in views], series)))
    return result


def grid_views(stats: SiteStats, grids: Sequence[Any], period: Period) -> list[KpiView]:
    """One community's grids in a period, small counts and their complements hidden together."""
    kpis = [(grid, stats.get_or_empty(Level.GRID, grid.id, period)) for grid in grids]
    hidden = protect_grids({grid.id: {c: kpi.value(c) for c in GRID_COLUMNS} for grid, kpi in kpis})
    return [KpiView(kpi, grid.name, complete=stats.is_complete(period), suppress=True,
                    hidden=hidden.get(grid.id)) for grid, kpi in kpis]


def build_view(stats: SiteStats, dataset, renderer=None, charts: bool = True) -> StatsView:
    """The display side of the derive stage: views for every street and community page.

    ``renderer`` is a ``charts.ChartRenderer`` (with a cache folder in real builds); trend
    charts for all pages are drawn in one batch so missing ones render in parallel.
    """
    with without_gc():  # figures for every street and community: many small objects
        return _build_view(stats, dataset, renderer, charts)


def _build_view(stats: SiteStats, dataset, renderer, charts: bool) -> StatsView:
    from generator.charts import ChartRenderer
    from generator.metrics import METRICS_BY_KEY, RANKING_NOTE

    quarters = stats.recent_quarters()
    latest = stats.latest_quarter
    complete = [q for q in stats.quarters if stats.is_complete(q)]
    ranked = complete[-1] if complete else latest
    renderer = (renderer or ChartRenderer()) if charts else None

    def unit(level: Level, unit_id: str, name: str) -> UnitStats:
        specs: list | None = [] if renderer is not None else None
        result = unit_stats(stats, level, unit_id, name, quarters, specs)
        if specs:
            result.chart = renderer.render(specs[0][1])
        return result

    def street(sid: str) -> UnitStats:
        found = dataset.streets.get(sid)
        if found is None:
            raise KeyError(sid)
        return unit(Level.STREET, sid, found.name)

    def community(cid: str) -> UnitStats:
        found = dataset.communities.get(cid)
        if found is None:
            raise KeyError(cid)
        result = unit(Level.COMMUNITY, cid, found.name)
        if latest is not None:
            result.grids = grid_views(stats, found.grids, latest)
        return result

    def ranking() -> RankingView | None:
        if ranked is None:
            return None
        raw = stats.ranking(ranked)
        rows = []
        for entry in raw.entries:
            found = dataset.communities.get(entry.kpi.unit)
            street_of = dataset.streets.get(found.street) if found else None
            rows.append(RankRow(entry.rank, entry.kpi.unit, found.name if found else entry.kpi.unit,
                                street_of.name if street_of else "—",
                                KpiView(entry.kpi, found.name if found else entry.kpi.unit,
                                        stats.previous(entry.kpi), stats.year_before(entry.kpi))))
        return RankingView(ranked, raw.minimum_due, rows, raw.excluded,
                           METRICS_BY_KEY["on_time_rate"].label, RANKING_NOTE)

    district_stats = unit(Level.DISTRICT, stats.district_code, dataset.district.name)
    headline = None
    if latest is not None:
        kpi = stats.district_kpi(latest)
        headline = DistrictHeadline(kpi.received, latest.label, kpi.grid_resolution_rate)
    return StatsView(stats, stats.as_of, latest, ranked, headline, district_stats,
                     _Units(street), _Units(community), ranking, list(dataset.streets))


def derive(dataset, cache_dir: Path | None = None, charts: bool = True, stats: SiteStats | None = None,
           renderer: Any = None) -> StatsView:
    """Statistics of a loaded dataset, ready for templates: ``ctx.derived["stats"]``
    (``stats``: the figures when already computed, e.g. by the build's ``CaseWork``;
    ``renderer``: the ``ChartRenderer`` to draw with, else one caching in ``cache_dir``)."""
    from generator.charts import ChartRenderer

    return build_view(stats or stats_for_dataset(dataset), dataset, renderer or ChartRenderer(cache_dir), charts)


def pages(ctx: Any) -> Iterable[Any]:
    """The metrics page (指标说明) and the district statistics page.

    Their templates read the statistics as the shared name ``stats`` (so they are rendered
    once the build has them, and keyed by them like every page that shows them: a rebuild
    whose case files and places are unchanged keeps them, ``generator.depends``); their own
    contexts are the definitions, known before.
    """
    from generator import metrics
    from generator.pages import Page

    notes = {
        "intake": metrics.INTAKE_COHORT, "closure": metrics.CLOSURE_COHORT,
        "comparison": metrics.COMPARISON_NOTE, "suppression": metrics.SUPPRESSION_NOTE,
        "ranking": metrics.RANKING_NOTE, "period": metrics.PERIOD_NOTE,
    }
    yield Page("metrics.md", "metrics.md", {"title": "指标说明", "metrics": metrics.METRICS, "notes": notes})
    yield Page("stats/index.md", "metrics_district.md", {"title": "事件办理统计", "notes": notes})
