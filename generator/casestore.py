"""The case files, parsed once per build and worked on beside the YAML.

Case files are the largest input by far (a district has about 1.3 M rows, 250 MB of CSV), and
two build steps need all of them: the case statistics (``generator.stats``) and the published
case table (``generator.opendata``). Parsing CSV is what costs; reading a parsed table back
costs a fraction of that. So:

- ``CaseStore`` parses the CSV files once into a table of text in a scratch DuckDB database
  (compressed, spilling to disk beyond its memory limit); the statistics read typed time
  stamps from it and the export copies it out. Parquet files are read where they lie.
- ``CaseWork`` does both jobs in a background thread that ``gongzhi build`` starts before it
  reads a single YAML file. Nothing in that work needs the YAML except the community → street
  map of the statistics, which the build hands over (``supply``) once the data is valid. DuckDB
  runs outside Python's global lock, so the parse and the export use the second core while
  Python reads the YAML. Results already in the result cache are not computed again, and when
  both are cached no case file is read at all.

``CaseWork`` guesses its inputs before validation has run. Whatever it could not do, or did
for inputs other than the ones the build ends up with, is done again on the caller's thread
by the same functions, so that errors are raised where the build expects them.
"""

from __future__ import annotations

import csv
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from generator.issues import first_line

DEFAULT_MEMORY_LIMIT = "2500MB"
TEXT_TABLE = "case_text"


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _name(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _typed_name(column: str) -> str:
    return f"__typed__{column}"


def _csv_header(path: Path) -> list[str]:
    """The column names of a CSV file (a UTF-8 byte-order mark is dropped)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [h.strip() for h in next(csv.reader(handle), [])]


class CaseStoreError(Exception):
    """A case file could not be read; the message is DuckDB's first line."""


class CaseStore:
    """Case files in a scratch DuckDB database: CSV text parsed once, Parquet read in place.

    Use as a context manager; ``con`` is the connection. After ``load``:

    - ``sources(columns)`` is a SQL ``FROM`` item with those columns over every case file, as
      text for CSV rows and as stored for Parquet rows, a missing column as NULL;
    - ``export_csv`` writes chosen columns of every row to one CSV file.
    """

    def __init__(
        self,
        case_files: Sequence[Path],
        threads: int | None = None,
        memory_limit: str | None = None,
        typed: dict[str, str] | None = None,
    ):
        # ``typed``: column → SQL type, also kept cast (``try_cast``) beside the text, so that
        # the cast is paid while parsing (in the build, while the YAML is read)
        self.typed = dict(typed or {})
        self.case_files = [Path(p) for p in case_files]
        self.csv_files = [p for p in self.case_files if p.suffix.lower() != ".parquet"]
        self.parquet_files = [p for p in self.case_files if p.suffix.lower() == ".parquet"]
        self.threads = threads
        self.memory_limit = memory_limit or os.environ.get("GONGZHI_DUCKDB_MEMORY", DEFAULT_MEMORY_LIMIT)
        self.con: Any = None
        self.loaded = False
        self.csv_columns: list[str] = []
        self.parquet_columns: list[str] = []
        self.headers: dict[Path, list[str]] = {}  # each CSV file's columns
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> CaseStore:
        import duckdb

        self._scratch = tempfile.TemporaryDirectory(prefix="gongzhi-cases-")
        scratch = Path(self._scratch.name)
        # on disk: its tables are compressed and spill beyond the memory limit, so a province
        # tier year of cases (12 M rows) stays within a few GB
        self.con = duckdb.connect(":memory:")
        self.set_threads(self.threads)
        self.con.execute(f"SET memory_limit = {_lit(self.memory_limit)}")
        self.con.execute(f"SET temp_directory = {_lit(str(scratch / 'spill'))}")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def set_threads(self, threads: int | None) -> None:
        self.con.execute(f"SET threads = {int(threads or os.cpu_count() or 2)}")

    def load(self) -> None:
        """Parse every CSV file into the text table (in file order); check Parquet files exist."""
        import duckdb

        if self.loaded:
            return
        for path in self.case_files:
            if not path.is_file():
                raise CaseStoreError(f"找不到事件记录文件：{path}")
        columns: list[str] = []
        parts = []
        for path in self.csv_files:
            header = self.headers[path] = _csv_header(path)
            columns.extend(h for h in header if h not in columns)
            spec = "{" + ", ".join(f"{_lit(h)}: 'VARCHAR'" for h in header) + "}"
            parts.append(
                f"SELECT * FROM read_csv({_lit(str(path))}, header = true, auto_detect = false, "
                f"columns = {spec}, delim = ',', quote = '\"', escape = '\"', max_line_size = 10000000)"
            )
        try:
            if parts:
                extra = "".join(
                    f", try_cast({_name(c)} AS {t}) AS {_name(_typed_name(c))}"
                    for c, t in self.typed.items()
                    if c in columns
                )
                self.con.execute("SET preserve_insertion_order = true")
                self.con.execute(
                    f"CREATE TABLE {TEXT_TABLE} AS SELECT *{extra} FROM ("
                    + " UNION ALL BY NAME ".join(parts) + ")"
                )
            if self.parquet_files:
                described = self.con.execute(
                    f"DESCRIBE SELECT * FROM read_parquet({self._parquet_list()}, union_by_name = true)"
                ).fetchall()
                self.parquet_columns = [row[0] for row in described]
        except duckdb.Error as exc:
            raise CaseStoreError(first_line(exc)) from exc
        self.csv_columns = columns
        self.loaded = True

    def missing(self, columns: Sequence[str]) -> dict[Path, list[str]]:
        """Files (after ``load``) lacking some of ``columns``: file → the missing ones."""
        found: dict[Path, list[str]] = {}
        for path in self.csv_files:
            lacking = [c for c in columns if c not in self.headers.get(path, ())]
            if lacking:
                found[path] = lacking
        lacking = [c for c in columns if c not in self.parquet_columns]
        if self.parquet_files and lacking:
            found[self.parquet_files[0]] = lacking
        return found

    def _parquet_list(self) -> str:
        return "[" + ", ".join(_lit(str(p)) for p in self.parquet_files) + "]"

    def sources(self, columns: Sequence[str], cast: dict[str, str] | None = None) -> str:
        """Every case row with ``columns`` (``cast``: column → SQL type, via ``try_cast``)."""
        cast = cast or {}

        def pick(available: list[str], column: str, text: bool) -> str:
            target = cast.get(column)
            if column not in available:
                return f"NULL::{target or 'VARCHAR'} AS {_name(column)}"
            if target and text and self.typed.get(column) == target:
                return f"{_name(_typed_name(column))} AS {_name(column)}"
            if target:  # a value that does not cast is NULL: the validator reports it
                return f"try_cast({_name(column)} AS {target}) AS {_name(column)}"
            return f"CAST({_name(column)} AS VARCHAR) AS {_name(column)}" if not text else _name(column)

        parts = []
        if self.csv_files:
            parts.append(f"SELECT {', '.join(pick(self.csv_columns, c, True) for c in columns)} FROM {TEXT_TABLE}")
        if self.parquet_files:
            parts.append(
                f"SELECT {', '.join(pick(self.parquet_columns, c, False) for c in columns)} "
                f"FROM read_parquet({self._parquet_list()}, union_by_name = true)"
            )
        if not parts:
            nulls = ", ".join(f"NULL::{cast.get(c) or 'VARCHAR'} AS {_name(c)}" for c in columns)
            parts.append(f"SELECT {nulls} WHERE false")
        return "(" + " UNION ALL ".join(parts) + ")"

    def export_csv(self, field_names: Sequence[str], out: Path) -> int:
        """Rows of every case file, ``field_names`` only, into the CSV file ``out``; the row count."""
        import duckdb

        self.load()
        columns = ", ".join(_name(n) for n in field_names)
        # Parquet values are written as DuckDB prints them (time stamps as 2026-01-02 08:00:00)
        source = self.sources(field_names)
        try:
            self.con.execute("SET preserve_insertion_order = true")
            written = self.con.execute(
                f"COPY (SELECT {columns} FROM {source}) TO {_lit(str(out))} (HEADER, DELIMITER ',')"
            ).fetchone()
        except duckdb.Error as exc:
            raise CaseStoreError(first_line(exc)) from exc
        return int(written[0]) if written else 0


class CaseWork:
    """The build's case work in a background thread: the published case CSV and the statistics.

    ``start`` it before validation; ``supply`` the dataset once it is valid (or ``cancel`` when
    it is not); ``stats`` and ``result`` then return what the thread made, or make it on the
    caller's thread when the thread could not.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._files: list[Path] | None = None
        self._fields: list[str] | None = None
        self._thread: threading.Thread | None = None
        self._supplied = threading.Event()
        self._stats_ready = threading.Event()
        self._mapping: tuple[dict[str, str], str] | None = None
        self._cancelled = False
        self._export: tuple[Path, int, int] | None = None
        self._stats: Any = None
        self._stats_for: tuple[dict[str, str], str] | None = None
        self._community_files: list[Path] = []
        self._district_files: list[Path] = []
        self.error: Exception | None = None
        self._store: CaseStore | None = None
        # seconds per step on the thread (load, wait, stats, export), for the build report
        self.timings: dict[str, float] = {}

    @property
    def cache_dir(self) -> Path:
        from generator.opendata import export_cache_dir

        return export_cache_dir(self.data_dir)

    def start(self) -> CaseWork:
        """Begin in a thread; nothing happens when the inputs cannot be read yet."""
        from generator.load import discover, display_root
        from generator.opendata import published_case_fields

        try:
            fields = published_case_fields(self.data_dir)
            entities, case_files, _ = discover(self.data_dir, display_root(self.data_dir))
        except Exception:  # noqa: BLE001 - the validator reports it; the callers decide later
            return self
        if not case_files or fields is None:
            return self
        self._files, self._fields = case_files, fields
        self._community_files = [f.path for f in entities if f.source and f.source.resource == "communities"]
        self._district_files = [f.path for f in entities if f.source and f.source.resource == "districts"]
        self._thread = threading.Thread(target=self._run, name="gongzhi-cases", daemon=True)
        self._thread.start()
        return self

    def supply(self, dataset: Any) -> None:
        """The valid dataset: its community → street map lets the statistics begin."""
        from generator.stats import community_streets

        self._mapping = (community_streets(dataset), dataset.district.code)
        self._supplied.set()

    def cancel(self) -> None:
        """The build stops (invalid data, or it failed): stop the work, interrupting DuckDB."""
        if self._supplied.is_set() and not self._cancelled and self._mapping is not None:
            return  # it has the dataset: what it makes is the build's
        self._cancelled = True
        self._supplied.set()
        store = self._store
        if store is not None and store.con is not None:
            try:
                store.con.interrupt()
            except Exception:  # noqa: BLE001 - closed meanwhile: nothing left to stop
                pass

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        from generator import stats as stats_module
        from generator.cache import digests_remembered, file_digests
        from generator.mkdocs_feed import background_thread
        from generator.opendata import cached_cases_csv, cases_csv_file

        background_thread()  # the YAML, then MkDocs, come first

        assert self._files is not None and self._fields is not None
        files, fields = self._files, self._fields
        store: CaseStore | None = None
        stats_cached = False
        try:
            remembered = digests_remembered(files, self.cache_dir.parent)
            if remembered:
                # a rebuild, most likely: look in the cache first, perhaps nothing is to be done
                self._export = cached_cases_csv(files, fields, self.cache_dir)
                # only whether the cache has them: loading them is Python work, left to the caller
                stats_cached = stats_module.has_cached_stats(files, self.data_dir)
                if self._export is not None and stats_cached:
                    return
            # DuckDB on both cores: the build waits for the statistics sooner than Python
            # finishes the YAML
            store = self._store = CaseStore(files, threads=None, typed=stats_module.TYPED_COLUMNS).__enter__()
            hashing = None
            if not remembered:
                # new case files: hashed (for the cache keys) while DuckDB parses them
                hashing = threading.Thread(target=file_digests, args=(files, self.cache_dir.parent), daemon=True)
                hashing.start()
            if not self._cancelled:
                with self._timed("load"):
                    store.load()
            if hashing is not None:
                hashing.join()
                self._export = cached_cases_csv(files, fields, self.cache_dir)
                stats_cached = stats_module.has_cached_stats(files, self.data_dir)
            if not stats_cached and store.loaded and not self._supplied.is_set():
                # The YAML is still being read: count with the community → street map its files
                # most likely give. ``stats`` uses the result only if the valid dataset's map and
                # district turn out to be exactly these; otherwise it is counted again below.
                guess = self._guess_mapping()
                if guess is not None:
                    # one thread: the other core is MkDocs's, and the pages that show the
                    # statistics are written last
                    store.set_threads(1)
                    with self._timed("stats"):
                        self._stats = stats_module.stats_for_files(files, *guess, self.data_dir, store=store)
                    self._stats_for = guess
            with self._timed("wait"):
                self._supplied.wait()
            if self._cancelled or self._mapping is None:
                return
            if self._stats_for == self._mapping:
                stats_cached = True  # the guess was right
            if not stats_cached:
                mapping, district = self._mapping
                store.set_threads(1)  # as above
                with self._timed("stats"):
                    self._stats = stats_module.stats_for_files(files, mapping, district, self.data_dir, store=store)
                self._stats_for = self._mapping
            self._stats_ready.set()
            if self._export is None:
                store.set_threads(1)
                with self._timed("export"):
                    self._export = cases_csv_file(files, fields, self.cache_dir, store=store)
        except Exception as exc:  # noqa: BLE001 - made again (and raised) on the caller's thread
            self.error = exc
        finally:
            self._stats_ready.set()
            self._store = None
            if store is not None:
                store.close()

    def _guess_mapping(self) -> tuple[dict[str, str], str] | None:
        """community id → street id and the district code, read straight from the YAML files
        (no checks: only a guess, compared with the valid dataset's before it is used)."""
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            mapping: dict[str, str] = {}
            for path in self._community_files:
                with open(path, encoding="utf-8") as handle:
                    record = yaml.load(handle, Loader=loader)
                if not isinstance(record, dict) or not isinstance(record.get("street"), str):
                    return None
                mapping[str(record.get("id") or path.stem)] = record["street"]
            if len(self._district_files) != 1:
                return None
            with open(self._district_files[0], encoding="utf-8") as handle:
                district = yaml.load(handle, Loader=loader)
            if not isinstance(district, dict) or district.get("code") is None:
                return None
            return mapping, str(district["code"])
        except Exception:  # only a guess: a file that reads oddly in any way means no guess
            return None

    def _timed(self, step: str):
        from generator.pages import timed

        return timed(self.timings, step)

    def _same_files(self, case_files: Sequence[Path]) -> bool:
        return self._files is not None and [p.resolve() for p in self._files] == [
            Path(p).resolve() for p in case_files
        ]

    def stats(self, dataset: Any) -> Any:
        """The ``SiteStats`` of a valid dataset: the thread's, or computed now."""
        from generator.stats import community_streets, stats_for_dataset

        if self._thread is not None:
            self._stats_ready.wait()
        wanted = (community_streets(dataset), dataset.district.code)
        if self._stats is not None and self._stats_for == wanted and self._same_files(dataset.case_files):
            return self._stats
        return stats_for_dataset(dataset)

    def result(self, case_files: Sequence[Path], field_names: Sequence[str]) -> tuple[Path, int, int]:
        """(path, rows, bytes) of the export for exactly these files and fields."""
        from generator.opendata import cases_csv_file

        self.wait()
        if (
            self._export is not None
            and self._same_files(case_files)
            and self._fields == list(field_names)
            and self._export[0].is_file()
        ):
            return self._export
        return cases_csv_file(case_files, field_names, self.cache_dir)
