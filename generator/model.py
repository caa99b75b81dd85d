"""Typed records, one per entity of the Data Package, and the linked ``Dataset``.

The loader builds these from rows that passed validation, so templates read attributes, never
dict keys. Controlled vocabularies are ``Enum``s whose values are the Chinese labels editors type.
Relations (``community.grids``, ``council.meetings`` ...) are filled by the link stage; they are
empty lists until then. Case records are not held here: they can be millions of rows and are
read with DuckDB straight from ``Dataset.case_files``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class Label(StrEnum):
    """An enum whose value is the Chinese label shown to people (``str()`` gives the label)."""


class CommunityKind(Label):
    COMMUNITY = "社区"
    VILLAGE = "村"


class StreetKind(Label):
    SUBDISTRICT = "街道"
    TOWN = "镇"
    TOWNSHIP = "乡"


class OrganisationKind(Label):
    PARTY = "党组织"
    RESIDENTS_COMMITTEE = "居委会"
    VILLAGERS_COMMITTEE = "村委会"
    OWNERS_COMMITTEE = "业委会"
    PROPERTY_MANAGER = "物业服务企业"
    SOCIAL_ORGANISATION = "社会组织"
    MASS_ORGANISATION = "群团组织"
    RESIDENT_UNIT = "驻区单位"


class CoreRole(Label):
    CORE = "一核"  # yi he: the Party organisation at the centre
    PLURAL = "多元"  # duo yuan: the many other actors


class SocialType(Label):
    LIFE_SERVICE = "生活服务类"
    CHARITY = "公益慈善类"
    CULTURE_SPORTS = "文体活动类"
    MEDIATION = "专业调处类"
    OTHER = "其他"


class FilingStatus(Label):
    FILED = "已备案"
    FILING = "备案中"
    NOT_FILED = "未备案"
    DEREGISTERED = "已注销"


class CouncilKind(Label):
    RESIDENTS_COUNCIL = "居民议事会"
    VILLAGERS_COUNCIL = "村民议事会"
    CONSULTATION_CENTRE = "协商议事中心"
    BENCH_REVIEW_GROUP = "板凳民主评议团"


class MemberRole(Label):
    CONVENER = "召集人"
    DEPUTY_CONVENER = "副召集人"
    MEMBER = "成员"
    OBSERVER = "列席"


class Sector(Label):
    PARTY = "党组织"
    RESIDENTS_COMMITTEE = "居委会"
    VILLAGERS_COMMITTEE = "村委会"
    OWNERS_COMMITTEE = "业委会"
    PROPERTY = "物业"
    SOCIAL_ORGANISATION = "社会组织"
    RESIDENT_REPRESENTATIVE = "居民代表"
    GRID_WORKER = "网格员"
    RESIDENT_UNIT = "驻区单位"
    PROFESSIONAL = "专业人士"
    PEOPLES_CONGRESS = "人大代表"
    CPPCC = "政协委员"


class MeetingStatus(Label):
    PLANNED = "计划中"
    HELD = "已召开"
    CANCELLED = "已取消"


class AgendaSource(Label):
    RESIDENT = "居民提议"
    CALL_FOR_TOPICS = "议题征集"
    GRID = "网格上报"
    CITY_BRAIN = "城市大脑"
    PARTY = "党组织提议"
    OWNERS_COMMITTEE = "业委会提议"
    PROPERTY = "物业提议"
    SOCIAL_ORGANISATION = "社会组织提议"


class Outcome(Label):
    PASSED = "通过"
    PASSED_AMENDED = "修改后通过"
    REJECTED = "未通过"
    DEFERRED = "暂缓"


class FollowUp(Label):
    PENDING = "待实施"
    IN_PROGRESS = "实施中"
    DONE = "已完成"
    EVALUATED = "已评议"
    SHELVED = "已搁置"


class Programme(Label):
    GOOD_GOVERNANCE = "城乡社区善治计划"
    VENTURE_GRANT = "公益创投"
    SMALL_DEEDS = "微实事"
    JOINT_BUILD = "共建项目"


class FundingSource(Label):
    DISTRICT = "区级财政"
    STREET = "街道财政"
    COMMUNITY_FUND = "社区公益基金"
    FOUNDATION = "慈善基金会"
    ENTERPRISE = "企业共建"
    CROWDFUNDING = "居民众筹"


class ProjectStatus(Label):
    APPLYING = "申报中"
    RUNNING = "实施中"
    CLOSED = "已结项"
    TERMINATED = "已终止"


class MilestoneStatus(Label):
    NOT_STARTED = "未开始"
    IN_PROGRESS = "进行中"
    DONE = "已完成"
    DELAYED = "已延期"


class Verdict(Label):
    SATISFIED = "满意"
    MOSTLY_SATISFIED = "基本满意"
    DISSATISFIED = "不满意"


class PolicyLevel(Label):
    PROVINCE = "省级"
    CITY = "市级"
    DISTRICT = "区级"
    STREET = "街道级"


class PolicyStatus(Label):
    IN_FORCE = "现行有效"
    AMENDED = "已修订"
    REPEALED = "已废止"


class AwardCategory(Label):
    GRID_WORKER = "最美网格员"
    SOCIAL_WORKER = "最美社工"
    VOLUNTEER = "最美志愿者"
    FAMILY = "最美家庭"
    STAIRWELL = "最美楼道"
    SOCIAL_ORGANISATION = "最美社会组织"


class WinnerKind(Label):
    PERSON = "个人"
    FAMILY = "家庭"
    GROUP = "集体"
    ORGANISATION = "组织"


# The governance tags of the paper: 自治、法治、德治 (and 智治 for the City Brain).
GOVERNANCE_TAGS: tuple[str, ...] = ("自治", "法治", "德治", "智治", "党建", "共建", "共享")


@dataclass
class Source:
    """Where a record came from, for provenance links and error messages."""

    file: str  # path relative to the repository root, e.g. "data/communities/xinfeng.yaml"
    line: int  # 1-based line of the record in that file
    updated: dt.datetime | None = None  # last git commit touching the file (filled by link)


@dataclass
class District:
    code: str
    name: str
    sample_data: bool
    former_name: str | None = None
    former_code: str | None = None
    summary: str | None = None
    source: str | None = None
    origin: Source | None = None
    streets: list[Street] = field(default_factory=list)


@dataclass
class Street:
    id: str
    code: str
    name: str
    district: str
    kind: StreetKind
    reported_grid_points: int | None = None
    reported_full_time_grid_workers: int | None = None
    reported_technical_staff: int | None = None
    summary: str | None = None
    source: str | None = None
    origin: Source | None = None
    communities: list[Community] = field(default_factory=list)
    organisations: list[Organisation] = field(default_factory=list)
    councils: list[Council] = field(default_factory=list)


@dataclass
class Community:
    id: str
    code: str
    name: str
    street: str
    kind: CommunityKind
    population: int | None = None
    households: int | None = None
    area_km2: float | None = None
    consultation_centre: str | None = None
    consultation_centre_opened: dt.date | None = None
    consultation_centre_address: str | None = None
    office_address: str | None = None
    office_hours: str | None = None
    summary: str | None = None
    source: str | None = None
    origin: Source | None = None
    street_ref: Street | None = None
    grids: list[Grid] = field(default_factory=list)
    organisations: list[Organisation] = field(default_factory=list)
    councils: list[Council] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)

    @property
    def has_consultation_centre(self) -> bool:
        return bool(self.consultation_centre)


@dataclass
class Grid:
    id: str
    community: str
    name: str
    full_time_workers: int
    part_time_workers: int | None = None
    grid_points: int | None = None
    households: int | None = None
    area_note: str | None = None
    origin: Source | None = None


@dataclass
class Organisation:
    id: str
    name: str
    kind: OrganisationKind
    core_role: CoreRole
    community: str | None = None
    street: str | None = None
    social_type: SocialType | None = None
    filing_status: FilingStatus | None = None
    filed_on: dt.date | None = None
    established_on: dt.date | None = None
    summary: str | None = None
    tags: list[str] = field(default_factory=list)
    origin: Source | None = None
    projects: list[Project] = field(default_factory=list)  # projects it carries out (grantee)


@dataclass
class Membership:
    council: str
    seq: int
    name: str
    role: MemberRole
    sector: Sector
    organisation: str | None = None
    term_start: dt.date | None = None
    term_end: dt.date | None = None
    origin: Source | None = None


@dataclass
class Council:
    id: str
    name: str
    kind: CouncilKind
    community: str | None = None
    street: str | None = None
    established_on: dt.date | None = None
    meeting_place: str | None = None
    summary: str | None = None
    tags: list[str] = field(default_factory=list)
    origin: Source | None = None
    members: list[Membership] = field(default_factory=list)
    meetings: list[Meeting] = field(default_factory=list)  # newest first
    evaluations: list[Evaluation] = field(default_factory=list)  # newest first


@dataclass
class AgendaItem:
    meeting: str
    seq: int
    title: str
    source: AgendaSource
    summary: str | None = None
    origin: Source | None = None
    decisions: list[Decision] = field(default_factory=list)


@dataclass
class Decision:
    id: str
    meeting: str
    title: str
    outcome: Outcome
    follow_up: FollowUp
    agenda_seq: int | None = None
    votes_for: int | None = None
    votes_against: int | None = None
    votes_abstain: int | None = None
    owner: str | None = None
    project: str | None = None
    publicised_on: dt.date | None = None
    due_on: dt.date | None = None
    completed_on: dt.date | None = None
    summary: str | None = None
    origin: Source | None = None
    meeting_ref: Meeting | None = None
    owner_ref: Organisation | None = None
    project_ref: Project | None = None


@dataclass
class Meeting:
    id: str
    council: str
    title: str
    date: dt.date
    status: MeetingStatus
    place: str | None = None
    invited: int | None = None
    attended: int | None = None
    residents_attended: int | None = None
    summary: str | None = None
    origin: Source | None = None
    council_ref: Council | None = None
    agenda: list[AgendaItem] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


@dataclass
class Milestone:
    project: str
    seq: int
    title: str
    status: MilestoneStatus
    due_on: dt.date | None = None
    completed_on: dt.date | None = None
    origin: Source | None = None


@dataclass
class Project:
    id: str
    title: str
    community: str
    programme: Programme
    grantee: str
    budget_yuan: float
    funding_source: FundingSource
    start_on: dt.date
    status: ProjectStatus
    spent_yuan: float | None = None
    end_on: dt.date | None = None
    progress_pct: float | None = None
    beneficiaries: int | None = None
    outcome: str | None = None
    summary: str | None = None
    tags: list[str] = field(default_factory=list)
    origin: Source | None = None
    community_ref: Community | None = None
    grantee_ref: Organisation | None = None
    milestones: list[Milestone] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)  # decisions this project carries out
    evaluations: list[Evaluation] = field(default_factory=list)


@dataclass
class Evaluation:
    id: str
    council: str
    subject: str
    date: dt.date
    participants: int
    verdict: Verdict
    project: str | None = None
    score: float | None = None
    summary: str | None = None
    origin: Source | None = None
    council_ref: Council | None = None
    project_ref: Project | None = None


@dataclass
class Policy:
    id: str
    title: str
    issuer: str
    level: PolicyLevel
    issued_on: dt.date
    status: PolicyStatus
    summary: str
    doc_number: str | None = None
    effective_on: dt.date | None = None
    repealed_on: dt.date | None = None
    tags: list[str] = field(default_factory=list)
    source: str | None = None
    origin: Source | None = None


@dataclass
class AwardWinner:
    award: str
    seq: int
    name: str
    kind: WinnerKind
    citation: str
    community: str | None = None
    organisation: str | None = None
    origin: Source | None = None


@dataclass
class Award:
    id: str
    title: str
    category: AwardCategory
    year: int
    issuer: str
    nomination_opens: dt.date | None = None
    nomination_closes: dt.date | None = None
    announced_on: dt.date | None = None
    summary: str | None = None
    tags: list[str] = field(default_factory=list)
    origin: Source | None = None
    winners: list[AwardWinner] = field(default_factory=list)


@dataclass
class Dataset:
    """Everything the portal shows, loaded, validated and linked.

    Dicts are keyed by id and keep file order (sorted by file path). ``case_files`` are the
    validated CSV/Parquet files of case records, read by the statistics stage with DuckDB.
    """

    root: Path  # the data folder
    district: District
    streets: dict[str, Street] = field(default_factory=dict)
    communities: dict[str, Community] = field(default_factory=dict)
    grids: dict[str, Grid] = field(default_factory=dict)
    organisations: dict[str, Organisation] = field(default_factory=dict)
    councils: dict[str, Council] = field(default_factory=dict)
    meetings: dict[str, Meeting] = field(default_factory=dict)
    decisions: dict[str, Decision] = field(default_factory=dict)
    projects: dict[str, Project] = field(default_factory=dict)
    evaluations: dict[str, Evaluation] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    awards: dict[str, Award] = field(default_factory=dict)
    case_files: list[Path] = field(default_factory=list)
    # every record the link stage made, by resource (memberships, agenda items and the like
    # included), in file order: what keys pages' dependencies without walking the relations
    records: dict[str, list[Any]] = field(default_factory=dict, repr=False, compare=False)
