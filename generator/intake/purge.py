"""Retention: delete each form's submissions once its declared period (privacy.retention_days) ends.

The period runs from the moment a submission was received. Deletion uses SQLite's
``secure_delete`` (freed pages are overwritten with zeros) and then checkpoints and truncates the
write-ahead log, so deleted answers do not linger in the file. Submissions of a form that is no
longer defined are reported, never guessed at: staff decide (``--forget-unknown DAYS``).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass, field

from generator.forms.model import Form
from generator.intake.storage import timestamp, utc_now, write_audit


@dataclass(frozen=True)
class FormPurge:
    form_id: str
    retention_days: int
    cutoff: dt.datetime  # submissions received before this are deleted
    deleted: int


@dataclass
class PurgeReport:
    forms: list[FormPurge] = field(default_factory=list)
    unknown: dict[str, int] = field(default_factory=dict)  # form id -> submissions kept
    dry_run: bool = False

    @property
    def deleted(self) -> int:
        return sum(item.deleted for item in self.forms)


def purge(
    conn: sqlite3.Connection,
    forms: dict[str, Form],
    actor: str,
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    unknown_retention_days: int | None = None,
) -> PurgeReport:
    """Delete expired submissions (or count them with ``dry_run``) and audit what was done."""
    now = now or utc_now()
    report = PurgeReport(dry_run=dry_run)
    stored = [row[0] for row in conn.execute("SELECT DISTINCT form_id FROM submissions")]
    plan: list[tuple[str, int]] = []
    for form_id in sorted(set(stored) | set(forms)):
        form = forms.get(form_id)
        if form is not None:
            plan.append((form_id, form.privacy.retention_days))
        elif unknown_retention_days is not None:
            plan.append((form_id, unknown_retention_days))
        else:
            kept = conn.execute(
                "SELECT count(*) FROM submissions WHERE form_id = ?", (form_id,)
            ).fetchone()[0]
            report.unknown[form_id] = kept
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for form_id, days in plan:
            cutoff = now - dt.timedelta(days=days)
            if dry_run:
                count = conn.execute(
                    "SELECT count(*) FROM submissions WHERE form_id = ? AND received_at < ?",
                    (form_id, timestamp(cutoff)),
                ).fetchone()[0]
            else:
                count = conn.execute(
                    "DELETE FROM submissions WHERE form_id = ? AND received_at < ?",
                    (form_id, timestamp(cutoff)),
                ).rowcount
                if count:
                    write_audit(
                        conn,
                        actor,
                        "purge",
                        form_id,
                        count,
                        f"保存期限 {days} 天，删除 {timestamp(cutoff)} 之前收到的提交",
                    )
            report.forms.append(FormPurge(form_id, days, cutoff, count))
        conn.execute("ROLLBACK" if dry_run else "COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if not dry_run and report.deleted:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return report
