"""Link stage: typed records from validated rows, with every relation filled.

Runs only on rows that passed validation, so every reference resolves. Provenance
(``Source.updated``) comes from ONE ``git log`` over the data folder, not one call per file;
without git (or outside a repository) it stays ``None``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import subprocess
import typing
from pathlib import Path
from typing import Any

from generator import model
from generator.model import Dataset, Source

RECORD_CLASSES: dict[str, type] = {
    "districts": model.District,
    "streets": model.Street,
    "communities": model.Community,
    "grids": model.Grid,
    "organisations": model.Organisation,
    "councils": model.Council,
    "memberships": model.Membership,
    "meetings": model.Meeting,
    "agenda_items": model.AgendaItem,
    "decisions": model.Decision,
    "projects": model.Project,
    "milestones": model.Milestone,
    "evaluations": model.Evaluation,
    "policies": model.Policy,
    "awards": model.Award,
    "award_winners": model.AwardWinner,
}


def _enum_fields(cls: type) -> dict[str, type[enum.Enum]]:
    hints = typing.get_type_hints(cls, vars(model))
    out: dict[str, type[enum.Enum]] = {}
    for name, hint in hints.items():
        for candidate in (hint, *typing.get_args(hint)):
            if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
                out[name] = candidate
    return out


def git_updated(data_dir: Path, root: Path) -> dict[str, dt.datetime]:
    """Last commit time of every file under ``data_dir``, keyed by path relative to ``root``."""
    try:
        completed = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "log",
                "--no-renames",
                "--format=%x00%cI",
                "--name-only",
                "--",
                str(data_dir.resolve()),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return {}
    if completed.returncode != 0:
        return {}
    updated: dict[str, dt.datetime] = {}
    current: dt.datetime | None = None
    for line in completed.stdout.splitlines():
        if line.startswith("\x00"):
            try:
                current = dt.datetime.fromisoformat(line[1:].strip())
            except ValueError:
                current = None
        elif line.strip() and current is not None:
            updated.setdefault(line.strip(), current)  # newest commit comes first
    return updated


def _records(
    resource: str,
    origins: list[tuple[str, int]],
    typed: list[dict[str, Any]],
    updated: dict[str, dt.datetime],
) -> list[Any]:
    cls = RECORD_CLASSES[resource]
    enums = _enum_fields(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    factories = {
        f.name for f in dataclasses.fields(cls) if f.default_factory is not dataclasses.MISSING
    }
    out = []
    for (file, line), row in zip(origins, typed, strict=True):
        kwargs = {}
        for name, value in row.items():
            if name not in names or (value is None and name in factories):
                continue
            if value is not None and name in enums:
                value = enums[name](value)
            if isinstance(value, list):
                value = list(value)
            kwargs[name] = value
        kwargs["origin"] = Source(file, line, updated.get(file))
        out.append(cls(**kwargs))
    return out


def build_dataset(
    data_dir: Path,
    root: Path,
    origins: dict[str, list[tuple[str, int]]],
    typed: dict[str, list[dict[str, Any]]],
    case_files: list[Path],
) -> Dataset:
    """Typed, linked records from validated tables."""
    updated = git_updated(data_dir, root)
    records = {
        name: _records(name, origins.get(name, []), typed.get(name, []), updated)
        for name in RECORD_CLASSES
    }
    by_id = {
        name: {r.id: r for r in rows}
        for name, rows in records.items()
        if rows and hasattr(rows[0], "id")
    }
    district = records["districts"][0]
    dataset = Dataset(
        root=data_dir,
        district=district,
        streets=by_id.get("streets", {}),
        communities=by_id.get("communities", {}),
        grids=by_id.get("grids", {}),
        organisations=by_id.get("organisations", {}),
        councils=by_id.get("councils", {}),
        meetings=by_id.get("meetings", {}),
        decisions=by_id.get("decisions", {}),
        projects=by_id.get("projects", {}),
        evaluations=by_id.get("evaluations", {}),
        policies=by_id.get("policies", {}),
        awards=by_id.get("awards", {}),
        case_files=list(case_files),
        records=records,
    )
    link(dataset, records)
    return dataset


def link(dataset: Dataset, records: dict[str, list[Any]]) -> None:
    """Fill every relation of the dataset's records."""
    d = dataset
    d.district.streets = [s for s in d.streets.values() if s.district == d.district.code]
    for community in d.communities.values():
        street = d.streets.get(community.street)
        community.street_ref = street
        if street is not None:
            street.communities.append(community)
    for grid in d.grids.values():
        d.communities[grid.community].grids.append(grid)
    for organisation in d.organisations.values():
        if organisation.community:
            d.communities[organisation.community].organisations.append(organisation)
        elif organisation.street:
            d.streets[organisation.street].organisations.append(organisation)
    for council in d.councils.values():
        if council.community:
            d.communities[council.community].councils.append(council)
        elif council.street:
            d.streets[council.street].councils.append(council)
    for member in records["memberships"]:
        d.councils[member.council].members.append(member)
    for council in d.councils.values():
        council.members.sort(key=lambda m: m.seq)
    for meeting in d.meetings.values():
        meeting.council_ref = d.councils[meeting.council]
        meeting.council_ref.meetings.append(meeting)
    agenda_by_key = {}
    for item in records["agenda_items"]:
        d.meetings[item.meeting].agenda.append(item)
        agenda_by_key[(item.meeting, item.seq)] = item
    for project in d.projects.values():
        project.community_ref = d.communities[project.community]
        project.community_ref.projects.append(project)
        project.grantee_ref = d.organisations[project.grantee]
        project.grantee_ref.projects.append(project)
    for milestone in records["milestones"]:
        d.projects[milestone.project].milestones.append(milestone)
    for decision in d.decisions.values():
        decision.meeting_ref = d.meetings[decision.meeting]
        decision.meeting_ref.decisions.append(decision)
        if (
            decision.agenda_seq is not None
            and (decision.meeting, decision.agenda_seq) in agenda_by_key
        ):
            agenda_by_key[(decision.meeting, decision.agenda_seq)].decisions.append(decision)
        if decision.owner:
            decision.owner_ref = d.organisations[decision.owner]
        if decision.project:
            decision.project_ref = d.projects[decision.project]
            decision.project_ref.decisions.append(decision)
    for evaluation in d.evaluations.values():
        evaluation.council_ref = d.councils[evaluation.council]
        evaluation.council_ref.evaluations.append(evaluation)
        if evaluation.project:
            evaluation.project_ref = d.projects[evaluation.project]
            evaluation.project_ref.evaluations.append(evaluation)
    for winner in records["award_winners"]:
        d.awards[winner.award].winners.append(winner)
    for meeting in d.meetings.values():
        meeting.agenda.sort(key=lambda a: a.seq)
    for award in d.awards.values():
        award.winners.sort(key=lambda w: w.seq)
    for project in d.projects.values():
        project.milestones.sort(key=lambda m: m.seq)
    for council in d.councils.values():
        council.meetings.sort(key=lambda m: (m.date, m.id), reverse=True)
        council.evaluations.sort(key=lambda e: (e.date, e.id), reverse=True)
