"""The responses CSV staff download: exactly the file ``gongzhi forms ingest`` reads.

Columns and cells come from the shared rules (``response_columns`` / ``response_row``). The file
is UTF-8 with a byte-order mark, so that Excel and WPS open the Chinese text correctly, and it
is produced in chunks from one database snapshot (``ExportSnapshot``).

Spreadsheet formula injection: a cell beginning with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return is prefixed with an apostrophe, which spreadsheets show as text and never run
(OWASP "CSV Injection"). A number column's validated plain numbers (``-3``, ``+2.5``) are data
that no spreadsheet evaluates as a formula, so they are written as they are.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from generator.forms.model import Form
from generator.forms.rules import NUMBER_PATTERN
from generator.intake import formsbridge
from generator.intake.storage import iter_submissions

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NEUTRALISER = "'"
_PLAIN_NUMBER = re.compile(NUMBER_PATTERN, re.ASCII)


def neutralise(cell: str, numeric: bool = False) -> str:
    """The cell as a spreadsheet will show it, never as a formula to run."""
    if not cell or not cell.startswith(FORMULA_TRIGGERS):
        return cell
    if numeric and _PLAIN_NUMBER.fullmatch(cell):
        return cell
    return NEUTRALISER + cell


class ExportSnapshot:
    """One form's responses read from one consistent snapshot, in chunks of CSV text.

    Opens a read transaction (WAL lets the service keep writing meanwhile), counts the rows
    first — so the audit log can record the count before anything is handed out — then yields
    the file piece by piece, so a form with a hundred thousand answers never sits in memory.
    The first chunk starts with the byte-order mark. Always ``close()`` (or use ``with``).
    """

    def __init__(self, conn: sqlite3.Connection, form: Form, batch: int = 500):
        self.conn, self.form, self.batch = conn, form, batch
        conn.execute("BEGIN")  # the snapshot: later writes are not seen
        self.rows: int = conn.execute(
            "SELECT count(*) FROM submissions WHERE form_id = ?", (form.id,)
        ).fetchone()[0]
        self._submissions = iter_submissions(conn, form.id)
        self._started = False
        self._done = False

    def __enter__(self) -> ExportSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")

    def next_chunk(self) -> str | None:
        """The next piece of the file, or None at the end."""
        if self._done:
            return None
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        if not self._started:
            self._started = True
            buffer.write("\ufeff")
            header = formsbridge.export_header(self.form)
            numeric = formsbridge.numeric_fields(self.form)
            self._numeric_columns = [name in numeric for name in header]
            writer.writerow(header)
        for _ in range(self.batch):
            submission = next(self._submissions, None)
            if submission is None:
                self._done = True
                break
            row = formsbridge.export_row(
                self.form, submission.answers, submission.receipt, submission.received_at
            )
            writer.writerow(
                [
                    neutralise(cell, numeric)
                    for cell, numeric in zip(row, self._numeric_columns, strict=True)
                ]
            )
        return buffer.getvalue()

    def __iter__(self) -> Iterator[str]:
        while (chunk := self.next_chunk()) is not None:
            yield chunk


def export_text(conn: sqlite3.Connection, form: Form) -> tuple[str, int]:
    """The whole file as text (with the byte-order mark) and its row count; for small uses."""
    with ExportSnapshot(conn, form) as snapshot:
        return "".join(snapshot), snapshot.rows


def write_export(snapshot: ExportSnapshot, out: Path) -> None:
    """Stream the file to ``out`` atomically: a half-written export never replaces a good one."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as handle:
            for chunk in snapshot:
                handle.write(chunk)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
