"""Where editors keep each table, and how nested YAML flattens onto the Data Package's tables.

Editors keep one YAML file per entity under ``data/<folder>/`` (subfolders allowed); the file
name (without ``.yaml``) is the entity's ``id``. Lists nested in an entity file become rows of
a child table carrying the parent's id; ``seq`` is filled from the list position when the
child table has one. Case records are CSV or Parquet files under ``data/cases/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Nested:
    """A list key inside an entity file that becomes rows of another table."""

    key: str  # the YAML key holding the list, e.g. "grids"
    resource: str  # the table its items become, e.g. "grids"
    parent_field: str  # the child column that holds the parent's id, e.g. "community"
    seq_field: str | None = None  # filled from the list position (1-based) when absent


@dataclass(frozen=True)
class EntitySource:
    """One kind of YAML entity file."""

    resource: str
    folder: str  # under data/; "" for a single file
    single_file: str | None = None  # e.g. "district.yaml" for a one-row table
    id_field: str | None = "id"  # must equal the file name; None for single files
    nested: tuple[Nested, ...] = field(default_factory=tuple)


ENTITY_SOURCES: tuple[EntitySource, ...] = (
    EntitySource("districts", "", single_file="district.yaml", id_field=None),
    EntitySource("streets", "streets"),
    EntitySource(
        "communities",
        "communities",
        nested=(
            Nested("grids", "grids", "community"),
            Nested("organisations", "organisations", "community"),
        ),
    ),
    EntitySource("organisations", "organisations"),
    EntitySource(
        "councils",
        "councils",
        nested=(Nested("members", "memberships", "council", seq_field="seq"),),
    ),
    EntitySource(
        "meetings",
        "meetings",
        nested=(
            Nested("agenda", "agenda_items", "meeting", seq_field="seq"),
            Nested("decisions", "decisions", "meeting"),
        ),
    ),
    EntitySource(
        "projects",
        "projects",
        nested=(Nested("milestones", "milestones", "project", seq_field="seq"),),
    ),
    EntitySource("evaluations", "evaluations"),
    EntitySource("policies", "policies"),
    EntitySource(
        "awards",
        "awards",
        nested=(Nested("winners", "award_winners", "award", seq_field="seq"),),
    ),
)

CASES_FOLDER = "cases"  # *.csv (UTF-8) and *.parquet, one row per case
CASES_RESOURCE = "cases"
PACKAGE_FILE = "datapackage.yaml"
