"""One model of a problem in the data, shared by the terminal, JSON and CI annotations.

Every check — Frictionless's and our own cross-file checks — produces ``Issue`` records.
Codes are stable; each is registered once in ``CATALOGUE`` with its meaning and the fix,
which is what the generated error catalogue page lists.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class IssueKind:
    """A catalogue entry: what a code means and how to fix it, in Chinese."""

    code: str
    severity: Severity
    title: str  # 含义
    fix: str  # 如何修正


CATALOGUE: dict[str, IssueKind] = {}


def register(code: str, severity: Severity, title: str, fix: str) -> IssueKind:
    """Add a code to the catalogue; every code used anywhere must be registered once."""
    if code in CATALOGUE:
        raise ValueError(f"issue code registered twice: {code}")
    kind = IssueKind(code, severity, title, fix)
    CATALOGUE[code] = kind
    return kind


@dataclass(frozen=True)
class Issue:
    code: str
    severity: Severity
    file: str  # relative to the repository (or the validated folder's parent)
    line: int | None  # 1-based; for CSV the physical line (header is line 1)
    column: int | None  # 1-based
    key: str  # key path, e.g. "grids[2].full_time_workers"; "" for the whole file
    message: str  # Chinese, says what is wrong
    hint: str = ""  # Chinese, says how to fix it

    @classmethod
    def of(
        cls,
        kind: IssueKind,
        file: str,
        line: int | None,
        key: str,
        message: str,
        hint: str | None = None,
        column: int | None = None,
    ) -> Issue:
        return cls(kind.code, kind.severity, file, line, column, key, message, hint or kind.fix)

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def to_text(self) -> str:
        key = f" {self.key}:" if self.key else ":"
        hint = f"（提示：{self.hint}）" if self.hint else ""
        return f"{self.location()}{key} {self.message}{hint} [{self.code}]"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data


def first_line(exc: BaseException) -> str:
    """An exception's first line (its type when it has no message), for a Chinese error text."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class DataError(Exception):
    """Raised by stages that need valid data when validation found errors."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        errors = sum(1 for i in issues if i.severity is Severity.ERROR)
        super().__init__(f"数据校验未通过：{errors} 个错误")
