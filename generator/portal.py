"""The portal's page provider: one ``Page`` per entity and one index page per long list.

Every figure a template shows is computed here (counts, sums, coverage, budget use), so
templates only format. Paths are POSIX paths inside the generated docs folder; the URL scheme
is ``<kind>/<id>.md`` with ``<kind>/index.md`` as the sortable, filterable index.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator import depends, pinyin
from generator.model import (
    GOVERNANCE_TAGS,
    AgendaItem,
    CoreRole,
    Council,
    Dataset,
    Decision,
    Evaluation,
    Meeting,
    MeetingStatus,
    Organisation,
    OrganisationKind,
    Project,
    Source,
)
from generator.pages import Asset, Page, RenderContext

RECENT_MEETINGS = 5  # on community pages; the council page lists them all
LATEST_DECISIONS = 10  # on the home page
# A list longer than this many rows is split by street: its index page lists the streets (and
# the most recent meetings), each street's rows are a page of their own. A resident's phone
# then loads one street's list, not a city's, and an edit rewrites one short page.
INDEX_ROWS = 1000
RECENT_ON_INDEX = 50  # meetings on a split meetings index

# The paper's governance tags, explained on their tag pages.
TAG_MEANINGS: dict[str, str] = {
    "自治": "居民依法自我管理、自我服务：议事协商、公益创投、居民公约。",
    "法治": "依法办事、依法调处：法律顾问进社区、专业调处、规范的议事程序。",
    "德治": "以德育人、向上向善：“最美”系列评选、家风家训、志愿服务。",
    "智治": "以数字手段提升治理：城市大脑·社会治理平台、线上线下两张网。",
    "党建": "党建引领：党组织在一核多元中居于核心，“1+3”基层协商治理。",
    "共建": "多方共同投入：驻区单位、企业与社会组织共建项目。",
    "共享": "治理成果由居民共同享有。",
}


# --- small helpers -----------------------------------------------------------------------------


def tag_slug(tag: str) -> str:
    """A stable ASCII file name for a (usually Chinese) tag: 自治 → zizhi."""
    slug = "-".join(p for p in pinyin.syllables(tag) if p)
    slug = "".join(ch if ch.isascii() and (ch.isalnum() or ch == "-") else "-" for ch in slug.lower())
    slug = "-".join(part for part in slug.split("-") if part)
    return slug or "tag"


@dataclass(frozen=True)
class Provenance:
    """Where a page's data came from, for the "编辑此数据" link and the last-changed date."""

    file: str
    line: int
    updated: dt.date | None
    edit_url: str | None


def provenance(
    origin: Source | None, ctx: RenderContext, mtimes: dict[str, dt.date | None] | None = None
) -> Provenance | None:
    """The page's data file, its last change (git, else the file's mtime) and its edit link."""
    if origin is None:
        return None
    updated: dt.date | None = None
    if origin.updated is not None:
        updated = origin.updated.date() if isinstance(origin.updated, dt.datetime) else origin.updated
    elif mtimes is not None and origin.file in mtimes:
        updated = mtimes[origin.file]
    else:  # not in git (a preview of local edits): the file's modification time
        updated = depends.file_date(origin.file, ctx.dataset.root)
        if mtimes is not None:
            mtimes[origin.file] = updated
    edit_url = ctx.edit_base + origin.file if ctx.edit_base and not Path(origin.file).is_absolute() else None
    return Provenance(origin.file, origin.line, updated, edit_url)


def _ratio(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return part / whole


@dataclass
class Chain:
    """One decision's path 议题 → 协商 → 决议 → 实施 → 评议."""

    decision: Decision
    agenda: AgendaItem | None
    meeting: Meeting | None
    project: Project | None
    evaluations: list[Evaluation] = field(default_factory=list)


def decision_chain(decision: Decision, meeting: Meeting | None) -> Chain:
    agenda = None
    if meeting is not None and decision.agenda_seq is not None:
        agenda = next((a for a in meeting.agenda if a.seq == decision.agenda_seq), None)
    project = decision.project_ref
    evaluations = sorted(project.evaluations, key=lambda e: e.date, reverse=True) if project else []
    return Chain(decision, agenda, meeting, project, evaluations)


# --- the site model the templates read ---------------------------------------------------------


@dataclass
class Totals:
    """Counts and sums over a set of communities (district, street)."""

    communities: int
    villages: int
    grids: int
    full_time_workers: int
    part_time_workers: int
    grid_points: int
    population: int | None
    households: int | None
    with_centre: int
    centre_coverage: float | None


def totals(communities: Iterable) -> Totals:
    communities = list(communities)
    grids = [g for c in communities for g in c.grids]
    populations = [c.population for c in communities if c.population is not None]
    households = [c.households for c in communities if c.households is not None]
    with_centre = sum(1 for c in communities if c.has_consultation_centre)
    return Totals(
        communities=len(communities),
        villages=sum(1 for c in communities if c.kind.value == "村"),
        grids=len(grids),
        full_time_workers=sum(g.full_time_workers for g in grids),
        part_time_workers=sum(g.part_time_workers or 0 for g in grids),
        grid_points=sum(g.grid_points or 0 for g in grids),
        population=sum(populations) if populations else None,
        households=sum(households) if households else None,
        with_centre=with_centre,
        centre_coverage=_ratio(with_centre, len(communities)),
    )


def _all_tags(ds: Dataset) -> dict[str, dict[str, list]]:
    """tag → kind → records carrying it, in dataset order; the paper's tags first."""
    found: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for kind, records in (
        ("projects", ds.projects.values()),
        ("councils", ds.councils.values()),
        ("organisations", ds.organisations.values()),
        ("policies", ds.policies.values()),
        ("awards", ds.awards.values()),
    ):
        for record in records:
            for tag in record.tags:
                found[tag][kind].append(record)
    order = [t for t in GOVERNANCE_TAGS if t in found] + sorted(
        (t for t in found if t not in GOVERNANCE_TAGS), key=pinyin.syllables
    )
    return {t: found[t] for t in order}


def tag_paths(tags: Iterable[str]) -> dict[str, str]:
    """tag → page path, unique even when two tags share a pinyin spelling."""
    paths: dict[str, str] = {}
    used: set[str] = set()
    for tag in tags:
        slug = tag_slug(tag)
        candidate, n = slug, 2
        while candidate in used:
            candidate, n = f"{slug}-{n}", n + 1
        used.add(candidate)
        paths[tag] = f"tags/{candidate}.md"
    return paths


def community_path(cid: str) -> str:
    return f"communities/{cid}.md"


@dataclass(frozen=True)
class StreetPart:
    """One street's share of a list split by street (``INDEX_ROWS``)."""

    name: str  # the street's name, or 区级 for rows of no street
    path: str  # the page listing them
    count: int


def _split_by_street(ds: Dataset, section: str, rows: list, street_of: Callable[[Any], str | None],
                     pages: bool = True) -> tuple[list[StreetPart], dict[str, list]] | None:
    """``rows`` grouped by street (in the order of the streets, rows of no street last), with
    the page of each group (``<section>/by-street/<street>.md``; with ``pages=False`` the
    street's own page), or None when the list is short enough for one page."""
    if len(rows) <= INDEX_ROWS:
        return None
    groups: dict[str, list] = {sid: [] for sid in ds.streets}
    for row in rows:
        sid = street_of(row)
        groups.setdefault(sid if sid in ds.streets else "", []).append(row)
    parts = []
    for sid, members in groups.items():
        if not members:
            continue
        path = (f"{section}/by-street/{sid}.md" if pages else f"streets/{sid}.md") if sid else f"{section}/by-street/district.md"
        parts.append(StreetPart(ds.streets[sid].name if sid else "区级", path, len(members)))
    return parts, groups


def _community_street(ds: Dataset, community: str | None) -> str | None:
    found = ds.communities.get(community or "")
    return found.street if found else None


def _meeting_sort_key(m: Meeting) -> tuple:
    return (m.date, m.id)


def _group_organisations(orgs: list[Organisation]) -> list[tuple[str, list[Organisation]]]:
    """一核 first, then 多元 grouped by kind in the vocabulary's order."""
    core = [o for o in orgs if o.core_role is CoreRole.CORE]
    groups: list[tuple[str, list[Organisation]]] = []
    if core:
        groups.append(("一核：党组织引领", core))
    for kind in OrganisationKind:
        members = [o for o in orgs if o.core_role is not CoreRole.CORE and o.kind is kind]
        if members:
            groups.append((f"多元：{kind.value}", members))
    return groups


# --- the provider ------------------------------------------------------------------------------


def pages(ctx: RenderContext) -> Iterator[Page | Asset]:
    """Every portal page; long lists become index pages with sortable, filterable tables."""
    ds = ctx.dataset
    tags = _all_tags(ds)
    tpaths = tag_paths(tags)
    mtimes: dict[str, dt.date | None] = {}
    common = {"tag_paths": tpaths, "prov": lambda origin: provenance(origin, ctx, mtimes)}

    communities = list(ds.communities.values())
    streets = list(ds.streets.values())
    meetings = sorted(ds.meetings.values(), key=_meeting_sort_key, reverse=True)
    decisions = sorted(
        (d for d in ds.decisions.values() if d.meeting_ref is not None),
        key=lambda d: (d.meeting_ref.date, d.id),
        reverse=True,
    )
    projects = list(ds.projects.values())
    district_totals = totals(communities)

    yield Page(
        "index.md",
        "home.md",
        {
            **common,
            "title": f"{ds.district.name}社区治理公开门户",
            "totals": district_totals,
            "streets": [(s, totals(s.communities)) for s in streets],
            "latest_decisions": [decision_chain(d, d.meeting_ref) for d in decisions[:LATEST_DECISIONS]],
            "upcoming_meetings": sorted(
                (m for m in meetings if m.status is MeetingStatus.PLANNED and m.date >= ctx.today),
                key=_meeting_sort_key,
            )[:5],
            "forms": ctx.derived.get("forms"),
            "reports": ctx.derived.get("reports"),
            "counts": {
                "councils": len(ds.councils),
                "meetings": len(ds.meetings),
                "decisions": len(ds.decisions),
                "projects": len(ds.projects),
                "organisations": len(ds.organisations),
                "policies": len(ds.policies),
            },
        },
    )

    # streets and communities
    yield Page(
        "streets/index.md",
        "streets.md",
        {**common, "title": "镇街", "rows": [(s, totals(s.communities)) for s in streets]},
    )
    for street in streets:
        yield Page(
            f"streets/{street.id}.md",
            "street.md",
            {
                **common,
                "title": street.name,
                "street": street,
                "totals": totals(street.communities),
                "rows": [(c, totals([c])) for c in street.communities],
            },
        )
    split = _split_by_street(ds, "communities", communities, lambda c: c.street, pages=False)
    yield Page(
        "communities/index.md",
        "communities.md",
        {
            **common,
            "title": "村社",
            "totals": district_totals,
            "rows": [] if split else [(c, totals([c])) for c in communities],
            "streets": streets,
            "parts": split[0] if split else None,  # each street's page lists its communities
        },
    )
    for community in communities:
        council_meetings = sorted(
            (m for council in community.councils for m in council.meetings),
            key=_meeting_sort_key,
            reverse=True,
        )
        recent = council_meetings[:RECENT_MEETINGS]
        recent_decisions = [
            decision_chain(d, m) for m in recent for d in m.decisions
        ]
        yield Page(
            community_path(community.id),
            "community.md",
            {
                **common,
                "title": community.name,
                "community": community,
                "street": community.street_ref,
                "totals": totals([community]),
                "organisation_groups": _group_organisations(community.organisations),
                "recent_meetings": recent,
                "meeting_count": len(council_meetings),
                "recent_decisions": recent_decisions,
                "projects": community.projects,
                "forms": ctx.derived.get("forms"),
            },
        )

    # councils and meetings
    councils = list(ds.councils.values())

    def council_street(council: Council) -> str | None:
        return council.street or _community_street(ds, council.community)

    yield from _listed(ds, common, "councils", "councils.md", "议事组织", "councils", councils, council_street)
    for council in councils:
        yield Page(
            f"councils/{council.id}.md",
            "council.md",
            {
                **common,
                "title": council.name,
                "council": council,
                "community": ds.communities.get(council.community or ""),
                "street": ds.streets.get(council.street or ""),
                "meetings": sorted(council.meetings, key=_meeting_sort_key, reverse=True),
                "evaluations": sorted(council.evaluations, key=lambda e: e.date, reverse=True),
                "members": sorted(council.members, key=lambda m: m.seq),
            },
        )
    yield from _listed(
        ds, common, "meetings", "meetings.md", "议事会议", "meetings", meetings,
        lambda m: council_street(m.council_ref) if m.council_ref else None, recent=RECENT_ON_INDEX)
    for meeting in meetings:
        council = meeting.council_ref or ds.councils.get(meeting.council)
        yield Page(
            f"meetings/{meeting.id}.md",
            "meeting.md",
            {
                **common,
                "title": meeting.title,
                "meeting": meeting,
                "council": council,
                "community": ds.communities.get(council.community or "") if council else None,
                "attendance_rate": _ratio(meeting.attended, meeting.invited),
                "agenda": sorted(meeting.agenda, key=lambda a: a.seq),
                "chains": [decision_chain(d, meeting) for d in meeting.decisions],
                "unlinked_decisions": [d for d in meeting.decisions if d.agenda_seq is None],
            },
        )

    # projects
    yield Page(
        "projects/index.md",
        "projects.md",
        {
            **common,
            "title": "公益创投与善治项目",
            "projects": projects,
            "budget_total": sum(p.budget_yuan for p in projects),
            "spent_total": sum(p.spent_yuan or 0 for p in projects),
        },
    )
    for project in projects:
        yield Page(
            f"projects/{project.id}.md",
            "project.md",
            {
                **common,
                "title": project.title,
                "project": project,
                "community": project.community_ref or ds.communities.get(project.community),
                "grantee": project.grantee_ref or ds.organisations.get(project.grantee),
                "spent_ratio": _ratio(project.spent_yuan, project.budget_yuan),
                "remaining": (
                    project.budget_yuan - project.spent_yuan if project.spent_yuan is not None else None
                ),
                "milestones": sorted(project.milestones, key=lambda m: m.seq),
                "milestones_done": sum(1 for m in project.milestones if m.status.value == "已完成"),
                "chains": [decision_chain(d, d.meeting_ref) for d in project.decisions],
                "evaluations": sorted(project.evaluations, key=lambda e: e.date, reverse=True),
            },
        )

    # organisations
    organisations = list(ds.organisations.values())
    yield from _listed(
        ds, common, "organisations", "organisations.md", "组织名录", "organisations", organisations,
        lambda o: o.street or _community_street(ds, o.community),
        social_count=sum(1 for o in organisations if o.kind is OrganisationKind.SOCIAL_ORGANISATION))
    owned: dict[str, list[Decision]] = defaultdict(list)
    for decision in ds.decisions.values():
        if decision.owner:
            owned[decision.owner].append(decision)
    memberships: dict[str, list] = defaultdict(list)
    for council in councils:
        for member in council.members:
            if member.organisation:
                memberships[member.organisation].append(council)
    for org in organisations:
        seen: set[str] = set()
        org_councils: list[Council] = []
        for council in memberships.get(org.id, []):
            if council.id not in seen:
                seen.add(council.id)
                org_councils.append(council)
        yield Page(
            f"organisations/{org.id}.md",
            "organisation.md",
            {
                **common,
                "title": org.name,
                "org": org,
                "community": ds.communities.get(org.community or ""),
                "street": ds.streets.get(org.street or ""),
                "projects": org.projects,
                "councils": org_councils,
                "decisions": owned.get(org.id, []),
            },
        )

    # policies
    policies = sorted(ds.policies.values(), key=lambda p: (p.issued_on, p.id), reverse=True)
    by_issuer: dict[str, list] = defaultdict(list)
    by_year: dict[int, list] = defaultdict(list)
    by_tag: dict[str, list] = defaultdict(list)
    for policy in policies:
        by_issuer[policy.issuer].append(policy)
        by_year[policy.issued_on.year].append(policy)
        for tag in policy.tags:
            by_tag[tag].append(policy)
    yield Page(
        "policies/index.md",
        "policies.md",
        {
            **common,
            "title": "政策知识库",
            "policies": policies,
            "by_issuer": sorted(by_issuer.items(), key=lambda kv: (-len(kv[1]), pinyin.syllables(kv[0]))),
            "by_year": sorted(by_year.items(), reverse=True),
            "by_tag": [(t, by_tag[t]) for t in tags if t in by_tag],
        },
    )
    for policy in policies:
        yield Page(
            f"policies/{policy.id}.md",
            "policy.md",
            {**common, "title": policy.title, "policy": policy},
        )

    # awards
    awards = sorted(ds.awards.values(), key=lambda a: (a.year, a.id), reverse=True)
    yield Page("awards/index.md", "awards.md", {**common, "title": "“最美”系列评选", "awards": awards})
    for award in awards:
        yield Page(
            f"awards/{award.id}.md",
            "award.md",
            {
                **common,
                "title": award.title,
                "award": award,
                "winners": sorted(award.winners, key=lambda w: w.seq),
            },
        )

    # tags
    yield Page(
        "tags/index.md",
        "tags.md",
        {
            **common,
            "title": "标签：自治、法治、德治",
            "tags": [(t, kinds, sum(len(v) for v in kinds.values())) for t, kinds in tags.items()],
            "meanings": TAG_MEANINGS,
        },
    )
    for tag, kinds in tags.items():
        yield Page(
            tpaths[tag],
            "tag.md",
            {**common, "title": f"标签：{tag}", "tag": tag, "kinds": kinds, "meaning": TAG_MEANINGS.get(tag)},
        )

    # editors' landing page (the dictionary and error catalogue are generated by the validator)
    yield Page(
        "editors/index.md",
        "editors.md",
        {
            **common,
            "title": "编辑指南",
            "has_dictionary": _content_exists(ctx, "editors/dictionary.md"),
            "has_errors": _content_exists(ctx, "editors/errors.md"),
            "has_editor": bool(ctx.derived.get("editor")),
        },
    )


def _listed(ds: Dataset, common: dict[str, Any], section: str, template: str, title: str, name: str,
            rows: list, street_of: Callable[[Any], str | None], recent: int = 0,
            **extra: Any) -> Iterator[Page]:
    """A list's index page, and when it is long (``INDEX_ROWS``) one page per street: the
    template gets the rows as ``name``, the streets' shares as ``parts`` (on the index of a
    split list; the index then shows the first ``recent`` rows) and a street's share as
    ``part`` (on its page)."""
    split = _split_by_street(ds, section, rows, street_of)
    context = {**common, **extra, "parts": None, "part": None, "total": len(rows)}
    if split is None:
        yield Page(f"{section}/index.md", template, {**context, "title": title, name: rows})
        return
    parts, groups = split
    yield Page(f"{section}/index.md", template, {**context, "title": title, name: rows[:recent], "parts": parts})
    for part, members in zip(parts, (g for g in groups.values() if g), strict=True):
        yield Page(part.path, template, {**context, "title": f"{title} · {part.name}", name: members, "part": part})


def _content_exists(ctx: RenderContext, rel: str) -> bool:
    root = ctx.derived.get("content_dir")
    if root is None:
        root = Path(__file__).resolve().parent.parent / "content"
    return (Path(root) / rel).is_file()
