"""The definitions of every published figure, written once.

The statistics stage computes exactly these, the metrics page (指标说明) is rendered from this
list, and the CSV/JSON downloads use the same keys, so anyone can check a number against its
definition. Periods (季度, 年度) are defined here too.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

# Small counts at grid level are shown as "<5" (privacy of residents in small areas).
SUPPRESS_BELOW = 5
SUPPRESSED_TEXT = "<5"
# A community is ranked in the district only with at least this many cases due in the period.
RANKING_MIN_DUE = 30
# The figure communities are ranked by.
RANKING_METRIC = "on_time_rate"
# Community and street pages show this many recent quarters.
RECENT_QUARTERS = 5


class Level(StrEnum):
    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"
    DISTRICT = "district"

    @property
    def label(self) -> str:
        return {"grid": "网格", "community": "村社", "street": "镇街", "district": "全区"}[self.value]


class Unit(StrEnum):
    COUNT = "count"  # 件
    RATE = "rate"  # a share, 0..1, shown as a percentage
    DAYS = "days"  # 天


@dataclass(frozen=True)
class Metric:
    key: str  # attribute of stats.Kpi and column of the downloads
    label: str  # 中文名称
    unit: Unit
    definition: str  # 口径, in Chinese
    numerator: str | None = None  # for rates: which count, by key
    denominator: str | None = None


INTAKE_COHORT = "上报时间在本期内的事件"
CLOSURE_COHORT = (
    "应结案事件：应办结时间在本期内、且已办结或截至数据日期已超过应办结时间的事件（不含已撤销）；"
    "未设应办结时间的已办结事件以办结时间计入"
)

METRICS: tuple[Metric, ...] = (
    Metric("received", "受理量（上报件数）", Unit.COUNT,
           f"{INTAKE_COHORT}件数，含已撤销。"),
    Metric("accepted", "已受理", Unit.COUNT,
           f"{INTAKE_COHORT}中已受理（有受理时间）的件数。"),
    Metric("withdrawn", "已撤销", Unit.COUNT,
           f"{INTAKE_COHORT}中状态为“已撤销”的件数。"),
    Metric("acceptance_rate", "受理率", Unit.RATE,
           "已受理 ÷ 上报件数。", "accepted", "received"),
    Metric("due", "应结案", Unit.COUNT, CLOSURE_COHORT + "。"),
    Metric("closed", "已办结", Unit.COUNT,
           "应结案事件中状态为“已办结”的件数（截至数据日期）。"),
    Metric("closed_on_time", "按期办结", Unit.COUNT,
           "应结案事件中在应办结时间之前（含当时）办结的件数；未设应办结时间的已办结事件视为按期。"),
    Metric("overdue_open", "超期未结", Unit.COUNT,
           "应结案事件中截至数据日期仍未办结的件数；它们计入应结案，按未按期办结计算。"),
    Metric("completion_rate", "办结率", Unit.RATE,
           "已办结 ÷ 应结案。", "closed", "due"),
    Metric("on_time_rate", "按期办结率", Unit.RATE,
           "按期办结 ÷ 应结案；超期未结的事件计为未按期。", "closed_on_time", "due"),
    Metric("handling_days_mean", "平均办理时长", Unit.DAYS,
           "已办结事件从上报到办结所用时间的平均值（天，按小时精确计算）。"),
    Metric("handling_days_median", "办理时长中位数", Unit.DAYS,
           "已办结事件从上报到办结所用时间的中位数（天）。"),
    Metric("grid_resolution_rate", "网格内解决率", Unit.RATE,
           "在网格层级解决的件数 ÷ 已办结。对应“小事不出网格”。", "resolved_in_grid", "closed"),
    Metric("community_resolution_rate", "社区内解决率", Unit.RATE,
           "在网格或社区层级解决的件数 ÷ 已办结（累计：网格内解决的事件也在社区之内）。"
           "对应“一般事不出社区”。", "resolved_in_community", "closed"),
    Metric("street_resolution_rate", "镇街内解决率", Unit.RATE,
           "在网格、社区或镇街层级解决的件数 ÷ 已办结（累计）。对应“大事不出镇街”。",
           "resolved_in_street", "closed"),
    Metric("answered", "回访作答数", Unit.COUNT,
           "已办结事件中回访时作答（满意、基本满意或不满意）的件数，即满意率的样本量 n。"),
    Metric("satisfaction_rate", "满意率", Unit.RATE,
           "回访作答中“满意”与“基本满意”的件数 ÷ 回访作答数；未回访或未作答的不计入。"
           "同时公布作答数 n。", "satisfied", "answered"),
)

METRICS_BY_KEY: dict[str, Metric] = {m.key: m for m in METRICS}

# Headline figures, in the order KPI blocks show them.
HEADLINE: tuple[str, ...] = (
    "received", "due", "completion_rate", "on_time_rate", "grid_resolution_rate",
    "community_resolution_rate", "street_resolution_rate", "satisfaction_rate",
    "handling_days_median",
)

COMPARISON_NOTE = (
    "环比：与上一季度比较；同比：与上一年同一季度比较（年度数据与上一年比较）。"
    "比率的变化以百分点表示，件数和时长的变化以百分比表示。"
)
SUPPRESSION_NOTE = (
    f"为保护居民隐私，网格层级的上报、应结案、已办结件数，以及全区事件类别、来源渠道的件数，1—{SUPPRESS_BELOW - 1} 件"
    f"显示为“{SUPPRESSED_TEXT}”（首要隐去）。只隐去一个数时，用合计减去其余各数就能把它算出来，所以同一组数字"
    f"（同一村社各网格的同一列，或同一期的各类别、各渠道）还会隐去其余数中最小的一个或几个，显示为“*”（补充隐去），"
    f"直到每个“{SUPPRESSED_TEXT}”都不能由公布的合计、其余数字和“已办结不超过应结案”等关系唯一推出；"
    "是否还能推出，由程序对公布的全部等式和不等式求整数解的最小值与最大值来检查。"
    f"没有可补充隐去的数时，整组显示为“*”。分母不足 {SUPPRESS_BELOW} 件、分母或分子被隐去的比率和时长不予显示（“—”）；"
    "网格的其他件数、环比、同比、事件类别和来源渠道构成不公布；网格的年度数字等于四个季度之和，所以网格只按季度公布。"
    "开放数据中逐件公开的事件记录不含网格；用它按村社、类别或渠道自行统计得到的件数，属于村社及以上层级的公开数字，"
    "不在隐去之列。"
)
RANKING_NOTE = (
    f"村社排名按按期办结率从高到低排列，只列入本期应结案不少于 {RANKING_MIN_DUE} 件的村社；"
    "样本不足的村社不参加排名，但其数字仍在各自页面公布。按期办结率相同时，应结案件数多者在前。"
)
PERIOD_NOTE = (
    "季度按上报时间或应办结时间所在的自然季度划分（北京时间）；"
    "尚未结束的季度和年度为截至数据日期的阶段数字，会随新数据变化。"
)


QUARTER_NAMES = ("一", "二", "三", "四")
_PERIOD_RE = re.compile(r"^\s*(\d{4})(?:\s*-?\s*[Qq]([1-4]))?\s*$")


@dataclass(frozen=True, order=True)
class Period:
    """A calendar quarter (``2026Q3``) or year (``2026``)."""

    year: int
    quarter: int | None = None  # 1..4; None for a whole year

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse ``2026Q3``, ``2026-Q3``, ``2026q3`` or ``2026``; raise ValueError in Chinese."""
        match = _PERIOD_RE.match(str(text))
        if not match:
            raise ValueError(f"无法识别的统计期“{text}”，应写作 2026Q3（季度）或 2026（年度）")
        year = int(match.group(1))
        if not 2000 <= year <= 2100:
            raise ValueError(f"统计期年份超出范围：{year}")
        return cls(year, int(match.group(2)) if match.group(2) else None)

    @property
    def is_quarter(self) -> bool:
        return self.quarter is not None

    @property
    def key(self) -> str:
        return f"{self.year}Q{self.quarter}" if self.quarter else str(self.year)

    @property
    def file_stem(self) -> str:  # data/reports/2026-Q3.yaml
        return f"{self.year}-Q{self.quarter}" if self.quarter else str(self.year)

    @property
    def slug(self) -> str:  # URL part
        return self.file_stem.lower()

    @property
    def label(self) -> str:
        if self.quarter:
            return f"{self.year}年第{QUARTER_NAMES[self.quarter - 1]}季度"
        return f"{self.year}年"

    @property
    def short_label(self) -> str:
        return f"{self.year}年{self.quarter}季度" if self.quarter else f"{self.year}年"

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 3 * (self.quarter - 1) + 1 if self.quarter else 1, 1)

    @property
    def end(self) -> dt.date:
        """The first day after the period."""
        if not self.quarter or self.quarter == 4:
            return dt.date(self.year + 1, 1, 1)
        return dt.date(self.year, 3 * self.quarter + 1, 1)

    def previous(self) -> Period:
        if not self.quarter:
            return Period(self.year - 1)
        return Period(self.year - 1, 4) if self.quarter == 1 else Period(self.year, self.quarter - 1)

    def year_before(self) -> Period:
        return Period(self.year - 1, self.quarter)

    def __str__(self) -> str:
        return self.key
