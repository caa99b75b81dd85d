"""Deterministic synthetic data: the sample's case records and large districts for benchmarks.

Two products share one case generator:

* ``write_sample_cases`` fills ``data/cases/`` of the sample district from its own communities
  and grids (``gongzhi synth --tier sample``), so the committed CSV files are reproducible.
* ``synthesize`` writes a whole data folder in the editors' layout at the scale tiers of
  DESIGN.md (district, city, province): one district with many streets, communities with grids
  and organisations, councils with members, meetings with agenda and decisions, projects,
  bench reviews, policies, awards, and case records split per quarter.

Case rows are generated inside DuckDB: ``range()`` numbers the rows and ``hash(row, k, seed)``
gives independent uniform numbers per row, so the output depends on the seed alone (same seed,
same bytes, for a given DuckDB release: its ``hash`` is not promised stable across releases) and
memory stays flat whatever the row count. YAML is written one file at a time
from templates; nothing holds a tier in memory except the grid list the case generator needs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

from generator.layout import CASES_FOLDER, PACKAGE_FILE

MARKER_FILE = ".gongzhi-synth"  # marks a folder synth wrote, so --force may replace only those
CASE_COLUMNS: tuple[str, ...] = (
    "id", "community", "grid", "channel", "category", "subcategory", "reported_at",
    "accepted_at", "dispatched_at", "due_at", "closed_at", "status", "resolved_level",
    "satisfaction",
)  # fmt: skip
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"  # ISO 8601, local (Beijing) time, no zone


class SynthError(Exception):
    """Synthesis cannot run (bad arguments, a folder that is not ours, unreadable sample)."""


# ----------------------------------------------------------------------------- tiers and quarters


@dataclass(frozen=True)
class Tier:
    name: str
    communities: int
    grids: int
    case_rows: int
    streets: int
    first_quarter: str = "2025-Q4"
    last_quarter: str = "2026-Q3"
    description: str = ""


TIERS: dict[str, Tier] = {
    # For tests and quick looks: validates in a second or two.
    "small": Tier("small", 24, 96, 20_000, 3, description="测试用小规模"),
    # 余杭区 before 2021: 1,476 grids, 132万 event records by 2020-03.
    "district": Tier("district", 300, 1_500, 1_300_000, 20, description="区级：300 村社、1500 网格、130 万条事件"),
    "city": Tier("city", 3_000, 15_000, 5_000_000, 150, description="市级：3000 村社、15000 网格、500 万条事件"),
    # 浙江 2022: 8.5万 grids, 1210.1万 items reported by grids in a year.
    "province": Tier("province", 25_000, 85_000, 12_000_000, 500, description="省级：25000 村社、85000 网格、1200 万条事件"),
}  # fmt: skip


@dataclass(frozen=True)
class Quarter:
    year: int
    number: int  # 1..4

    @classmethod
    def parse(cls, text: str) -> Quarter:
        match = re.fullmatch(r"(\d{4})-?Q([1-4])", text.strip(), re.I)
        if not match:
            raise SynthError(f"季度“{text}”的格式不对，应写作 2026-Q3。")
        return cls(int(match.group(1)), int(match.group(2)))

    @property
    def label(self) -> str:
        return f"{self.year}-Q{self.number}"

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 3 * self.number - 2, 1)

    @property
    def end(self) -> dt.date:  # exclusive
        return self.next().start

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def next(self) -> Quarter:
        return (
            Quarter(self.year + 1, 1) if self.number == 4 else Quarter(self.year, self.number + 1)
        )


def quarter_range(first: str, last: str) -> list[Quarter]:
    start, stop = Quarter.parse(first), Quarter.parse(last)
    if (stop.year, stop.number) < (start.year, start.number):
        raise SynthError(f"结束季度 {last} 早于开始季度 {first}。")
    out = [start]
    while out[-1] != stop:
        out.append(out[-1].next())
    return out


# ----------------------------------------------------------------------------- case vocabulary

# (category, share, deadline in hours, (p grid, p community, p street) — the rest is 区级,
#  subcategories). Deadlines follow common 12345/网格 practice: hazards and sanitation within a
# day, disputes and services within five working days.
CATEGORIES: tuple[tuple[str, float, int, tuple[float, float, float], tuple[str, ...]], ...] = (
    ("环境卫生", 0.22, 24, (0.86, 0.10, 0.035), ("垃圾分类", "暴露垃圾", "绿化养护", "河道保洁", "卫生死角")),
    ("市容秩序", 0.15, 48, (0.80, 0.12, 0.07), ("占道经营", "乱停车", "违规广告", "乱堆乱放")),
    ("物业管理", 0.15, 72, (0.70, 0.24, 0.05), ("电梯故障", "楼道堆物", "小区停车", "物业服务", "设施维修")),
    ("邻里纠纷", 0.09, 120, (0.66, 0.28, 0.05), ("噪音扰民", "漏水纠纷", "宠物扰民", "违规搭建")),
    ("公共设施", 0.13, 72, (0.58, 0.20, 0.18), ("路灯损坏", "道路破损", "窨井盖", "健身器材", "公交站亭")),
    ("安全隐患", 0.10, 24, (0.76, 0.14, 0.08), ("消防通道堵塞", "电动车违规充电", "高空抛物", "危房隐患", "燃气隐患")),
    ("民生服务", 0.13, 120, (0.74, 0.20, 0.05), ("养老服务", "就业帮扶", "医保社保", "证照办理", "困难救助")),
    ("其他", 0.03, 168, (0.80, 0.15, 0.04), ("咨询建议", "其他事项")),
)  # fmt: skip
# (channel, share, whether a resident stands behind it and can be called back)
CHANNELS: tuple[tuple[str, float, float], ...] = (
    ("网格员巡查", 0.42, 0.05),
    ("居民上报", 0.24, 0.80),
    ("12345热线", 0.18, 0.78),
    ("城市大脑感知", 0.11, 0.0),
    ("部门移交", 0.05, 0.30),
)
WITHDRAWN_SHARE = 0.012
# share of cases that run late, by the level that resolves them (scaled per community)
LATE_SHARE = {"网格": 0.015, "社区": 0.04, "镇街": 0.09, "区级": 0.15}
WORK_SHARE = {"网格": 0.25, "社区": 0.5, "镇街": 0.8, "区级": 1.0}  # of the deadline, typically


@dataclass(frozen=True)
class GridWeight:
    grid: str
    community: str
    weight: float  # relative case volume, e.g. households


@dataclass
class CaseSummary:
    files: list[Path] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _setup_case_tables(con: duckdb.DuckDBPyConnection, grids: list[GridWeight], seed: int) -> None:
    if not grids:
        raise SynthError("没有网格，无法生成事件记录。")
    total = sum(max(g.weight, 0.0) for g in grids) or float(len(grids))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE grid_raw (pos INTEGER, grid VARCHAR, community VARCHAR, w DOUBLE)"
    )
    con.executemany(
        "INSERT INTO grid_raw VALUES (?, ?, ?, ?)",
        [(i, g.grid, g.community, max(g.weight, 0.0) / total) for i, g in enumerate(grids)],
    )
    # cumulative lower bound per grid for an ASOF join; a per-community factor varies how
    # promptly each community handles its cases, so rankings have something to rank
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE gw AS
        SELECT grid, community,
               coalesce(sum(w) OVER (ORDER BY pos ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
                   AS lo,
               0.5 + (hash(community, {seed}) >> 11)::DOUBLE / 9007199254740992.0 AS pace
        FROM grid_raw
        """
    )
    rows = []
    lo = 0.0
    for name, share, deadline, (p_grid, p_comm, p_street), subs in CATEGORIES:
        rows.append((name, lo, deadline, p_grid, p_comm, p_street, list(subs)))
        lo += share
    con.execute(
        "CREATE OR REPLACE TEMP TABLE cat (name VARCHAR, lo DOUBLE, deadline_h INTEGER, "
        "p_grid DOUBLE, p_comm DOUBLE, p_street DOUBLE, subs VARCHAR[])"
    )
    con.executemany("INSERT INTO cat VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(
        f"CREATE OR REPLACE TEMP MACRO u(i, k) AS "
        f"(hash(i, k, {int(seed)}) >> 11)::DOUBLE / 9007199254740992.0"
    )


def _channel_case(column: str) -> tuple[str, str]:
    """SQL CASE expressions: the channel from a uniform number, and its call-back share."""
    parts, visit, lo = [], [], 0.0
    for name, share, callback in CHANNELS[:-1]:
        lo += share
        parts.append(f"WHEN {column} < {lo:.6f} THEN {_sql_str(name)}")
        visit.append(f"WHEN {_sql_str(name)} THEN {callback}")
    last, _share, callback = CHANNELS[-1]
    channel = "CASE " + " ".join(parts) + f" ELSE {_sql_str(last)} END"
    callback_sql = "CASE channel " + " ".join(visit) + f" ELSE {callback} END"
    return channel, callback_sql


def _quarter_sql(
    quarter: Quarter, lo: int, hi: int, id_offset: int, id_width: int, snapshot: dt.datetime
) -> str:
    """One quarter of cases, ordered by report time, as typed columns."""
    channel_sql, callback_sql = _channel_case("uch")
    late = " ".join(f"WHEN {_sql_str(k)} THEN {v}" for k, v in LATE_SHARE.items())
    work = " ".join(f"WHEN {_sql_str(k)} THEN {v}" for k, v in WORK_SHARE.items())
    snap = f"TIMESTAMP '{snapshot:%Y-%m-%d %H:%M:%S}'"
    return f"""
    WITH b AS (
        SELECT i, u(i, 1) AS ug, u(i, 2) AS uc, u(i, 3) AS usub, u(i, 4) AS uch, u(i, 5) AS uday,
               (u(i, 6) + u(i, 7) + u(i, 8)) / 3 AS utod, u(i, 9) AS uacc, u(i, 10) AS udis,
               u(i, 11) AS ulvl, u(i, 12) AS udur, u(i, 13) AS ulate, u(i, 14) AS uvisit,
               u(i, 15) AS usat, u(i, 16) AS uwd, u(i, 17) AS ustuck
        FROM range({lo}, {hi}) r(i)
    ),
    g AS (SELECT b.*, gw.grid, gw.community, gw.pace FROM b ASOF JOIN gw ON b.ug >= gw.lo),
    c AS (
        SELECT g.*, cat.name AS category, cat.deadline_h,
               cat.subs[1 + least(floor(usub * len(cat.subs))::INTEGER, len(cat.subs) - 1)] AS subcategory,
               CASE WHEN ulvl < cat.p_grid THEN '网格'
                    WHEN ulvl < cat.p_grid + cat.p_comm THEN '社区'
                    WHEN ulvl < cat.p_grid + cat.p_comm + cat.p_street THEN '镇街'
                    ELSE '区级' END AS level
        FROM g ASOF JOIN cat ON g.uc >= cat.lo
    ),
    t AS (
        SELECT *, {channel_sql} AS channel,
               TIMESTAMP '{quarter.start:%Y-%m-%d}'
                   + to_minutes((floor(uday * {quarter.days}) * 1440 + 360 + floor(utod * 960))::BIGINT)
                   AS reported_at
        FROM c
    ),
    s AS (
        SELECT *,
            reported_at + to_minutes(CASE
                WHEN uacc > 0.998 THEN 7200 + floor((uacc - 0.998) / 0.002 * 21600)
                WHEN uacc > 0.985 THEN 720 + floor((uacc - 0.985) / 0.013 * 2880)
                WHEN channel IN ('网格员巡查', '城市大脑感知') THEN 1 + floor(uacc * uacc * 30)
                ELSE 5 + floor(uacc * uacc * uacc * 240) END::BIGINT) AS accepted_at0,
            reported_at + to_minutes(deadline_h::BIGINT * 60) AS due_at,
            CASE
                WHEN ustuck > 0.994 THEN 43200 + floor(udur * 244800)
                WHEN ulate < (CASE level {late} END) * pace THEN deadline_h * 60 * (1.05 + 2.5 * udur)
                ELSE deadline_h * 60 * (CASE level {work} END) * (0.05 + 0.9 * udur * udur)
            END AS work_min
        FROM t
    ),
    p AS (
        SELECT *,
            accepted_at0 + to_minutes((1 + floor(udis * udis * 60))::BIGINT) AS dispatched_at0
        FROM s
    ),
    q AS (
        SELECT *,
            dispatched_at0 + to_minutes(greatest(work_min, 10)::BIGINT) AS closed_at0,
            CASE WHEN uwd < {WITHDRAWN_SHARE} THEN '已撤销'
                 WHEN accepted_at0 > {snap} THEN '待受理'
                 WHEN dispatched_at0 + to_minutes(greatest(work_min, 10)::BIGINT) > {snap} THEN '处理中'
                 ELSE '已办结' END AS status
        FROM p
    ),
    f AS (
        SELECT i, community, grid, channel, category, subcategory, reported_at,
            CASE WHEN status <> '待受理' THEN accepted_at0 END AS accepted_at,
            CASE WHEN status IN ('处理中', '已办结') AND dispatched_at0 <= {snap} THEN dispatched_at0 END
                AS dispatched_at,
            due_at,
            CASE WHEN status = '已办结' THEN closed_at0 END AS closed_at,
            status,
            CASE WHEN status = '已办结' THEN level END AS resolved_level,
            CASE WHEN status = '已办结' AND uvisit < {callback_sql} THEN
                CASE WHEN closed_at0 > due_at THEN
                         CASE WHEN usat < 0.60 THEN '满意' WHEN usat < 0.85 THEN '基本满意' ELSE '不满意' END
                     ELSE
                         CASE WHEN usat < 0.87 THEN '满意' WHEN usat < 0.97 THEN '基本满意' ELSE '不满意' END
                END END AS satisfaction
        FROM q
    )
    SELECT 'C' || strftime(reported_at, '%Y%m%d')
               || lpad(({id_offset} + row_number() OVER (ORDER BY reported_at, i))::VARCHAR, {id_width}, '0')
               AS id,
           community, grid, channel, category, subcategory, reported_at, accepted_at, dispatched_at,
           due_at, closed_at, status, resolved_level, satisfaction
    FROM f
    ORDER BY reported_at, i
    """


def _rows_per_quarter(quarters: list[Quarter], total: int) -> list[int]:
    """Split ``total`` rows over quarters by length, with a gentle upward trend (+2 % a quarter)."""
    weights = [q.days * (1 + 0.02 * k) for k, q in enumerate(quarters)]
    whole = sum(weights)
    counts = [int(total * w / whole) for w in weights]
    counts[-1] += total - sum(counts)
    return counts


def write_cases(
    out_dir: Path,
    grids: list[GridWeight],
    quarters: list[Quarter],
    total_rows: int,
    seed: int,
    *,
    fmt: str = "csv",
    snapshot: dt.datetime | None = None,
    threads: int | None = None,
    memory_limit: str = "2GB",
    progress: Callable[[str], None] | None = None,
) -> CaseSummary:
    """Write one case file per quarter (``2026-Q3.csv`` …) into ``out_dir``.

    ``snapshot`` is when the records were extracted (default: a week after the last quarter):
    cases not yet accepted or closed by then are 待受理 or 处理中, some of them overdue.
    """
    if fmt not in ("csv", "parquet"):
        raise SynthError(f"不支持的格式“{fmt}”，可选 csv 或 parquet。")
    if total_rows < 0:
        raise SynthError("事件条数不能为负数。")
    snapshot = snapshot or dt.datetime.combine(quarters[-1].end, dt.time()) + dt.timedelta(days=7)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = CaseSummary()
    started = time.perf_counter()
    id_width = max(5, len(str(total_rows)))
    spill = out_dir / ".duckdb-tmp"  # sorts larger than memory_limit spill here, then it goes
    con = duckdb.connect(
        config={
            "threads": threads or min(4, os.cpu_count() or 1),
            "memory_limit": memory_limit,
            "temp_directory": str(spill),
        }
    )
    try:
        con.execute("SET preserve_insertion_order = true")
        _setup_case_tables(con, grids, seed)
        offset = 0
        for quarter, count in zip(quarters, _rows_per_quarter(quarters, total_rows), strict=True):
            path = out_dir / f"{quarter.label}.{fmt}"
            query = _quarter_sql(quarter, offset, offset + count, offset, id_width, snapshot)
            if fmt == "csv":
                columns = ", ".join(
                    f"strftime({c}, '{TIMESTAMP_FORMAT}') AS {c}" if c.endswith("_at") else c
                    for c in CASE_COLUMNS
                )
                con.execute(
                    f"COPY (SELECT {columns} FROM ({query})) TO {_sql_str(str(path))} "
                    "(FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"')"
                )
            else:
                con.execute(
                    f"COPY ({query}) TO {_sql_str(str(path))} "
                    "(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 262144)"
                )
            offset += count
            summary.files.append(path)
            summary.bytes += path.stat().st_size
            if progress:
                progress(
                    f"{quarter.label}：{count:,} 条 → {path.name}（{path.stat().st_size / 1e6:.1f} MB）"
                )
        summary.rows = offset
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)
    summary.seconds = time.perf_counter() - started
    return summary


# ----------------------------------------------------------------------------- the sample's cases

SAMPLE_FIRST_QUARTER = "2025-Q3"
SAMPLE_LAST_QUARTER = "2026-Q3"
SAMPLE_CASE_ROWS = 9_000
SAMPLE_SEED = 20250701


def sample_grids(data_dir: Path) -> list[GridWeight]:
    """The grids of the sample's communities, weighted by households, in file order."""
    folder = data_dir / "communities"
    if not folder.is_dir():
        raise SynthError(f"找不到 {folder}，无法按示例村社生成事件记录。")
    grids: list[GridWeight] = []
    for path in sorted(folder.rglob("*.yaml")):
        try:
            record = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise SynthError(f"{path} 无法读取：{exc}（请先运行 gongzhi validate 修正）") from exc
        community = record.get("id") or path.stem
        for grid in record.get("grids") or []:
            if isinstance(grid, dict) and grid.get("id"):
                households = grid.get("households")
                weight = (
                    float(households)
                    if isinstance(households, int | float) and households > 0
                    else 300.0
                )
                grids.append(GridWeight(str(grid["id"]), str(community), weight))
    if not grids:
        raise SynthError(f"{folder} 中没有网格，无法生成事件记录。")
    return grids


def write_sample_cases(
    data_dir: Path,
    *,
    seed: int = SAMPLE_SEED,
    rows: int = SAMPLE_CASE_ROWS,
    progress: Callable[[str], None] | None = None,
) -> CaseSummary:
    """Regenerate ``data/cases/<quarter>.csv`` of the sample from its communities and grids."""
    quarters = quarter_range(SAMPLE_FIRST_QUARTER, SAMPLE_LAST_QUARTER)
    grids = sample_grids(data_dir)  # read first: a broken sample leaves the old files in place
    out = data_dir / CASES_FOLDER
    for quarter in quarters:  # replace only the files this generator owns
        (out / f"{quarter.label}.csv").unlink(missing_ok=True)
    return write_cases(out, grids, quarters, rows, seed, threads=2, progress=progress)


# ----------------------------------------------------------------------------- YAML writing

_PLAIN = re.compile(r"^[^\s\-?:,\[\]{}#&*!|>'\"%@`0-9][^#\n]*$")
_RESERVED = re.compile(r"^(true|false|yes|no|on|off|null|~|y|n)$", re.I)


def scalar(value: object) -> str:
    """A YAML scalar for ``value``: plain where unambiguous, JSON-quoted otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    if (
        _PLAIN.match(text)
        and not _RESERVED.match(text)
        and ": " not in text
        and not text.endswith((" ", ":"))
    ):
        return text
    return json.dumps(text, ensure_ascii=False)


def _mapping(record: dict, indent: str = "", first_prefix: str | None = None) -> str:
    """``key: value`` lines; lists of strings inline, ``None`` values left out."""
    lines = []
    for n, (key, value) in enumerate(record.items()):
        if value is None:
            continue
        prefix = first_prefix if (n == 0 and first_prefix is not None) else indent
        if isinstance(value, list | tuple):
            lines.append(f"{prefix}{key}: [{', '.join(scalar(v) for v in value)}]")
        else:
            lines.append(f"{prefix}{key}: {scalar(value)}")
    return "\n".join(lines) + "\n"


def _block(key: str, items: list[dict]) -> str:
    if not items:
        return ""
    return f"\n{key}:\n" + "".join(_mapping(item, "    ", "  - ") for item in items)


class _Writer:
    """Writes files under the output folder and counts them."""

    def __init__(self, root: Path):
        self.root = root
        self.files = 0
        self.bytes = 0
        self._made: set[Path] = set()

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        if path.parent not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(path.parent)
        data = text.encode("utf-8")
        path.write_bytes(data)
        self.files += 1
        self.bytes += len(data)


# Syllables for synthetic place names and fictional person names.
_PLACE_A = "东西南北新安和兴长永清丰康宁明华瑞福泰祥嘉盛裕"
_PLACE_B = "湖桥塘山河安平苑城港溪林园庄湾桥浦泾"
_SURNAMES = "王李张刘陈杨黄赵周吴徐孙朱马胡郭林何高梁郑罗宋谢唐韩曹许邓冯曾程蔡彭潘袁董余苏叶吕魏蒋田杜丁沈姜范江傅钟卢汪戴崔任陆廖姚方金邱夏谭"
_GIVEN = (
    "晓梅 建国 丽华 志强 秀英 海燕 文杰 玉兰 国平 春燕 伟民 小红 德明 桂芳 永康 雅琴 立新 美玲 卫东 淑珍 "
    "剑锋 慧敏 宏伟 彩霞 金根 月娥 志华 晓东 素芬 建华 林峰 巧玲 福根 亚萍 明亮 雪芬 振华 琴芳 宇航 佳怡"
).split()
_SECTORS_COMMUNITY = (
    ("召集人", "党组织", "party"), ("副召集人", "居委会", "rc"), ("成员", "业委会", "oc1"),
    ("成员", "物业", "pm"), ("成员", "社会组织", "volunteers"), ("成员", "居民代表", None),
    ("成员", "居民代表", None), ("成员", "居民代表", None), ("成员", "网格员", None),
    ("列席", "人大代表", None),
)  # fmt: skip
_TOPICS = (
    ("老旧小区加装电梯意见征集", "议题征集", "同意两个单元启动加装电梯，费用按楼层系数分摊"),
    ("电动自行车集中充电棚选址", "网格上报", "改建集中充电棚，楼道内禁止充电"),
    ("垃圾分类投放点位调整", "居民提议", "合并投放点为定时定点投放点，配桶边督导"),
    ("楼道堆物集中清理", "网格上报", "开展楼道堆物清理，杂物由物业统一处置"),
    ("小区停车位重新划线", "业委会提议", "按先业主后租户原则重新划定车位"),
    ("社区公益基金使用方案", "党组织提议", "通过社区公益基金年度使用方案"),
    ("广场舞活动时段约定", "居民提议", "约定活动时段与音量上限"),
    ("背街小巷路灯修缮", "城市大脑", "对感知到的路灯故障点统一报修并增设照明"),
)
_PROGRAMMES = ("城乡社区善治计划", "公益创投", "微实事", "共建项目")
_FUNDING = ("区级财政", "街道财政", "社区公益基金", "慈善基金会", "企业共建", "居民众筹")
_TAG_SETS = (
    ["自治", "共建"],
    ["法治", "自治"],
    ["德治", "共享"],
    ["智治", "共建"],
    ["党建", "共建"],
)
_SAMPLE = "（合成数据）"


def _place(n: int, suffix: str) -> str:
    a, b = _PLACE_A[n % len(_PLACE_A)], _PLACE_B[(n // len(_PLACE_A)) % len(_PLACE_B)]
    cycle = n // (len(_PLACE_A) * len(_PLACE_B))
    return f"{a}{b}{cycle + 1 if cycle else ''}{suffix}"


def _split_evenly(total: int, parts: int) -> Iterator[int]:
    """``parts`` integers summing to ``total`` (floor((k+1)·t/p) − floor(k·t/p))."""
    for k in range(parts):
        yield (k + 1) * total // parts - k * total // parts


@dataclass
class SynthSummary:
    tier: Tier
    out: Path
    yaml_files: int = 0
    yaml_bytes: int = 0
    yaml_seconds: float = 0.0
    cases: CaseSummary = field(default_factory=CaseSummary)
    counts: dict[str, int] = field(default_factory=dict)


def _prepare_out(out: Path, force: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not force:
            raise SynthError(
                f"输出文件夹 {out} 不是空的。请换一个文件夹，或加 --force 覆盖上次生成的合成数据。"
            )
        if not (out / MARKER_FILE).is_file():
            raise SynthError(
                f"输出文件夹 {out} 不是由 gongzhi synth 生成的（缺少 {MARKER_FILE}），为安全起见不会覆盖。"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def synthesize(
    tier: Tier,
    out: Path,
    *,
    seed: int = 1,
    fmt: str = "csv",
    package: Path | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SynthSummary:
    """Write a synthetic data folder at ``tier`` into ``out`` in the editors' layout."""
    if package is None:
        package = Path(__file__).resolve().parent.parent / "data" / PACKAGE_FILE
    if not package.is_file():
        raise SynthError(f"找不到数据契约 {package}。")
    if tier.streets < 1 or tier.streets > 999 or tier.communities < tier.streets:
        raise SynthError("镇街数应在 1—999 之间，且不多于村社数。")
    if -(-tier.communities // tier.streets) > 999:
        raise SynthError("每个镇街的村社数不能超过 999（12 位区划代码的后 3 位）。")
    if tier.grids < tier.communities:
        raise SynthError("网格数不能少于村社数：每个村社至少一个网格。")
    _prepare_out(out, force)
    if progress:
        progress(
            f"生成规模档 {tier.name}（{tier.description}），种子 {seed}，输出到 {out / 'data'}"
        )
    summary = SynthSummary(tier, out)
    started = time.perf_counter()
    writer = _Writer(out / "data")
    writer.write(PACKAGE_FILE, package.read_text(encoding="utf-8"))
    (out / MARKER_FILE).write_text(f"tier={tier.name} seed={seed}\n", encoding="utf-8")
    rng = random.Random(seed)
    quarters = quarter_range(tier.first_quarter, tier.last_quarter)
    grids = _write_entities(writer, tier, rng, quarters, summary.counts, progress)
    summary.yaml_files, summary.yaml_bytes = writer.files, writer.bytes
    summary.yaml_seconds = time.perf_counter() - started
    if progress:
        progress(
            f"YAML：{writer.files:,} 个文件，{writer.bytes / 1e6:.1f} MB，用时 {summary.yaml_seconds:.1f} 秒"
        )
    summary.cases = write_cases(
        out / "data" / CASES_FOLDER,
        grids,
        quarters,
        tier.case_rows,
        seed,
        fmt=fmt,
        progress=progress,
    )
    summary.counts["cases"] = summary.cases.rows
    return summary


def _write_entities(
    writer: _Writer,
    tier: Tier,
    rng: random.Random,
    quarters: list[Quarter],
    counts: dict[str, int],
    progress: Callable[[str], None] | None,
) -> list[GridWeight]:
    district_code = "339900"  # not a real 区划代码: 3399xx is unused in 浙江
    writer.write(
        "district.yaml",
        "# 合成数据：由 gongzhi synth 生成，用于性能测试，不对应任何真实地区。\n"
        + _mapping(
            {
                "code": district_code,
                "name": "合成测试区",
                "sample_data": True,
                "summary": f"{tier.description}的合成数据，由 gongzhi synth 按固定随机种子生成，用于性能测试；名称与数字均为虚构。",
                "source": "gongzhi synth 合成数据",
            }
        ),
    )
    for key in ("streets", "communities", "grids", "organisations", "councils", "memberships",
                "meetings", "decisions", "projects", "evaluations", "policies", "awards"):  # fmt: skip
        counts[key] = 0
    grids: list[GridWeight] = []
    person_no = 0

    def person() -> str:
        nonlocal person_no
        person_no += 1
        k = person_no * 7919
        return (
            f"{_SURNAMES[k % len(_SURNAMES)]}{_GIVEN[(k // len(_SURNAMES)) % len(_GIVEN)]}（示例）"
        )

    meeting_dates = [dt.date(q.year, q.start.month + 1, 10 + (q.number * 3) % 15) for q in quarters]
    community_no = 0
    grid_counts = _split_evenly(tier.grids, tier.communities)
    report_every = max(1, tier.streets // 10)
    for s, per_street in enumerate(_split_evenly(tier.communities, tier.streets), start=1):
        street_id = f"s{s:03d}"
        street_code = f"{district_code}{s:03d}"
        street_name = _place(s * 13, "街道")
        writer.write(
            f"streets/{street_id}.yaml",
            _mapping(
                {
                    "id": street_id,
                    "code": street_code,
                    "name": street_name,
                    "district": district_code,
                    "kind": "街道",
                    "summary": f"{street_name}下辖 {per_street} 个村社。{_SAMPLE}",
                }
            ),  # fmt: skip
        )
        counts["streets"] += 1
        street_projects: list[str] = []
        for k in range(1, per_street + 1):
            community_no += 1
            n_grids = next(grid_counts)
            cid = f"c{s:03d}{k:03d}"
            is_village = community_no % 5 == 0
            kind = "村" if is_village else "社区"
            name = _place(community_no * 31 + s, kind)
            households = n_grids * rng.randrange(250, 420)
            has_centre = community_no % 17 != 0
            opened = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(0, 1200))
            community = {
                "id": cid, "code": f"{street_code}{k:03d}", "name": name, "street": street_id,
                "kind": kind, "population": int(households * 2.6), "households": households,
                "area_km2": round(rng.uniform(0.5, 6.0), 1),
                "consultation_centre": f"{name}邻里协商议事中心" if has_centre else None,
                "consultation_centre_opened": opened if has_centre else None,
                "office_hours": "工作日 8:30—17:00",
                "summary": f"{name}，{n_grids} 个网格。{_SAMPLE}",
            }  # fmt: skip
            grid_rows = []
            for g in range(1, n_grids + 1):
                gh = households // n_grids + rng.randrange(-30, 31)
                grid_rows.append(
                    {"id": f"{cid}-{g:02d}", "name": f"第{g}网格", "full_time_workers": 1,
                     "part_time_workers": rng.randrange(1, 5), "grid_points": 1, "households": max(gh, 50)}
                )  # fmt: skip
                grids.append(GridWeight(f"{cid}-{g:02d}", cid, float(max(gh, 50))))
            committee = (
                ("vc", "村民委员会", "村委会") if is_village else ("rc", "居民委员会", "居委会")
            )
            orgs = [
                {"id": f"{cid}-party", "name": f"{name}党委", "kind": "党组织", "core_role": "一核", "tags": ["党建"]},
                {"id": f"{cid}-{committee[0]}", "name": f"{name}{committee[1]}", "kind": committee[2], "core_role": "多元"},
                {"id": f"{cid}-oc1", "name": f"{name}第一小区业主委员会", "kind": "业委会", "core_role": "多元"},
                {"id": f"{cid}-pm", "name": f"{name}物业服务项目部（示例）", "kind": "物业服务企业", "core_role": "多元"},
                {"id": f"{cid}-volunteers", "name": f"{name}志愿服务队", "kind": "社会组织", "core_role": "多元",
                 "social_type": "公益慈善类", "filing_status": "已备案", "filed_on": dt.date(2021, 1 + k % 12, 1 + s % 28)},
                {"id": f"{cid}-culture", "name": f"{name}文体队", "kind": "社会组织", "core_role": "多元",
                 "social_type": "文体活动类", "filing_status": ("已备案", "备案中", "未备案")[community_no % 3]},
            ]  # fmt: skip
            if has_centre:
                orgs.append(
                    {"id": f"{cid}-centre", "name": f"{name}邻里协商议事中心", "kind": "社会组织", "core_role": "多元",
                     "social_type": "专业调处类", "filing_status": "已备案", "filed_on": opened}
                )  # fmt: skip
            writer.write(
                f"communities/{street_id}/{cid}.yaml",
                _mapping(community) + _block("grids", grid_rows) + _block("organisations", orgs),
            )
            counts["communities"] += 1
            counts["grids"] += n_grids
            counts["organisations"] += len(orgs)

            council_id = f"{cid}-council"
            members = []
            for role, sector, org in _SECTORS_COMMUNITY:
                if is_village and sector == "居委会":
                    sector, org = "村委会", "vc"
                members.append(
                    {"name": person(), "role": role, "sector": sector,
                     "organisation": f"{cid}-{org}" if org else None,
                     "term_start": dt.date(2026, 1, 10), "term_end": dt.date(2030, 12, 31)}
                )  # fmt: skip
            council_kind = "村民议事会" if is_village else "居民议事会"
            writer.write(
                f"councils/{street_id}/{council_id}.yaml",
                _mapping(
                    {"id": council_id, "name": f"{name}{council_kind}", "kind": council_kind,
                     "community": cid, "meeting_place": community["consultation_centre"] or f"{name}会议室",
                     "tags": ["自治", "党建"], "summary": f"{name}的议事组织。{_SAMPLE}"}
                )
                + _block("members", members),
            )  # fmt: skip
            counts["councils"] += 1
            counts["memberships"] += len(members)

            project_id = f"{cid}-p1" if community_no % 10 == 1 else None
            for m, date in enumerate(meeting_dates):
                meeting_id = f"{cid}-{date:%Y-%m}"
                topics = [_TOPICS[(community_no + m * 3 + j) % len(_TOPICS)] for j in range(2)]
                attended = 8 + (community_no + m) % 3
                decisions = []
                for j, (_title, _source, decision) in enumerate(topics, start=1):
                    rejected = (community_no + m + j) % 13 == 0
                    done = date < quarters[-1].start
                    decisions.append(
                        {"id": f"{meeting_id}-d{j}", "agenda_seq": j, "title": decision,
                         "outcome": "未通过" if rejected else "通过",
                         "votes_for": 3 if rejected else attended - 1,
                         "votes_against": attended - 4 if rejected else 1, "votes_abstain": 0,
                         "follow_up": "已搁置" if rejected else ("已完成" if done else "实施中"),
                         "owner": None if rejected else f"{cid}-{committee[0]}",
                         "project": project_id if (project_id and m == 0 and j == 1) else None,
                         "publicised_on": None if rejected else date + dt.timedelta(days=3),
                         "due_on": None if rejected else date + dt.timedelta(days=90),
                         "completed_on": date + dt.timedelta(days=60) if (done and not rejected) else None}
                    )  # fmt: skip
                writer.write(
                    f"meetings/{street_id}/{meeting_id}.yaml",
                    _mapping(
                        {"id": meeting_id, "council": council_id,
                         "title": f"{name}{date.year}年第{(date.month - 1) // 3 + 1}季度议事会议",
                         "date": date, "place": community["consultation_centre"] or f"{name}会议室",
                         "status": "已召开", "invited": len(members), "attended": attended,
                         "residents_attended": 5 + (community_no * 7 + m) % 30}
                    )
                    + _block("agenda", [{"title": t, "source": src} for t, src, _d in topics])
                    + _block("decisions", decisions),
                )  # fmt: skip
                counts["meetings"] += 1
                counts["decisions"] += len(decisions)

            if project_id:
                start = meeting_dates[0] + dt.timedelta(days=30)
                budget = 20_000 + 5_000 * (community_no % 20)
                closed = community_no % 3 == 0
                writer.write(
                    f"projects/{street_id}/{project_id}.yaml",
                    _mapping(
                        {"id": project_id, "title": f"{name}{_TOPICS[community_no % len(_TOPICS)][0]}项目",
                         "community": cid, "programme": _PROGRAMMES[community_no % len(_PROGRAMMES)],
                         "grantee": f"{cid}-volunteers", "budget_yuan": budget,
                         "spent_yuan": budget if closed else budget // 2,
                         "funding_source": _FUNDING[community_no % len(_FUNDING)],
                         "start_on": start, "end_on": start + dt.timedelta(days=240),
                         "status": "已结项" if closed else "实施中",
                         "progress_pct": 100 if closed else 50,
                         "beneficiaries": 100 + community_no % 900,
                         "outcome": f"按计划完成。{_SAMPLE}" if closed else None,
                         "tags": _TAG_SETS[community_no % len(_TAG_SETS)]}
                    )
                    + _block(
                        "milestones",
                        [{"title": "立项与公示", "due_on": start, "status": "已完成", "completed_on": start},
                         {"title": "实施", "due_on": start + dt.timedelta(days=180),
                          "status": "已完成" if closed else "进行中",
                          "completed_on": start + dt.timedelta(days=170) if closed else None},
                         {"title": "结项评议", "due_on": start + dt.timedelta(days=240),
                          "status": "已完成" if closed else "未开始",
                          "completed_on": start + dt.timedelta(days=235) if closed else None}],
                    ),
                )  # fmt: skip
                counts["projects"] += 1
                street_projects.append(project_id)

        if s % 5 == 1:  # a 板凳民主评议团 in every fifth street, reviewing its projects
            bench = f"{street_id}-bench"
            writer.write(
                f"councils/{street_id}/{bench}.yaml",
                _mapping(
                    {"id": bench, "name": f"{street_name}板凳民主评议团", "kind": "板凳民主评议团",
                     "street": street_id, "tags": ["自治", "德治"], "summary": f"街道层面的民主评议组织。{_SAMPLE}"}
                )
                + _block(
                    "members",
                    [{"name": person(), "role": "召集人" if i == 0 else "成员",
                      "sector": "党组织" if i == 0 else "居民代表"} for i in range(7)],
                ),
            )  # fmt: skip
            counts["councils"] += 1
            counts["memberships"] += 7
            for e, project_id in enumerate(street_projects, start=1):
                score = 60 + (s * 7 + e * 11) % 40
                writer.write(
                    f"evaluations/{street_id}/{bench}-e{e}.yaml",
                    _mapping(
                        {"id": f"{bench}-e{e}", "council": bench, "project": project_id,
                         "subject": f"项目 {project_id} 评议", "date": meeting_dates[-1],
                         "participants": 20 + e % 30, "score": score,
                         "verdict": "满意" if score >= 85 else ("基本满意" if score >= 60 else "不满意")}
                    ),
                )  # fmt: skip
                counts["evaluations"] += 1
        if progress and (s % report_every == 0 or s == tier.streets):
            progress(f"YAML：{s}/{tier.streets} 个镇街，{writer.files:,} 个文件")

    for p in range(1, 11):
        writer.write(
            f"policies/policy-{p:02d}.yaml",
            _mapping(
                {"id": f"policy-{p:02d}", "title": f"合成政策文件第{p}号", "issuer": "合成测试区人民政府（示例）",
                 "level": ("区级", "街道级", "市级")[p % 3], "issued_on": dt.date(2020 + p % 6, 1 + p, 1),
                 "status": "现行有效" if p % 4 else "已废止",
                 "repealed_on": None if p % 4 else dt.date(2025, 12, 31),
                 "summary": f"用于性能测试的合成政策摘要。{_SAMPLE}", "tags": _TAG_SETS[p % len(_TAG_SETS)]}
            ),
        )  # fmt: skip
        counts["policies"] += 1
    categories = ("最美网格员", "最美社工", "最美志愿者", "最美家庭", "最美楼道", "最美社会组织")
    for a, category in enumerate(categories, start=1):
        award_id = f"award-{a}"
        winners = [
            {"name": person(), "kind": "个人", "community": grids[(a * 97 + w * 31) % len(grids)].community,
             "citation": f"事迹为合成数据。{_SAMPLE}"}
            for w in range(5)
        ]  # fmt: skip
        writer.write(
            f"awards/{award_id}.yaml",
            _mapping(
                {"id": award_id, "title": f"2025年度“{category}”", "category": category, "year": 2025,
                 "issuer": "合成测试区评选组委会（示例）", "announced_on": dt.date(2025, 12, 20)}
            )
            + _block("winners", winners),
        )  # fmt: skip
        counts["awards"] += 1
    return grids
