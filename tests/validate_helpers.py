"""Shared helpers for the validation tests: build a data folder from the tiny valid base."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "validate"
BASE = FIXTURES / "base"


def make_data(tmp_path: Path, overlay: str | None = None) -> Path:
    """A ``data`` folder: the base fixture, the repository's contract, then the overlay's files."""
    data = tmp_path / "data"
    shutil.copytree(BASE, data)
    shutil.copy(REPO / "data" / "datapackage.yaml", data / "datapackage.yaml")
    if overlay:
        source = FIXTURES / overlay
        for path in sorted(source.rglob("*")):
            if path.is_file():
                target = data / path.relative_to(source)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
    return data


def flat(issues) -> list[tuple[str, str, int | None, str]]:
    return [(i.code, i.file, i.line, i.key) for i in issues]
