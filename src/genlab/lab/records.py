"""The run store: every sweep run and finished cell, in one SQLite file per output folder.

Each finished cell is committed on its own, so a run that is killed loses at most the
cells in flight, and re-running the sweep knows what is done. WAL mode lets a reader
(`genlab runs`, a report, the studio's sweep jobs) look while a sweep writes. Image paths inside the
database's folder are stored relative to it, so the folder can be moved as a whole.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from genlab.core.errors import GenlabError

DB_NAME = "genlab-runs.sqlite"
# Tables added later (run_metrics) are created IF NOT EXISTS on opening, and older
# genlab ignores tables it does not know, so adding one needs no version bump: a bump
# would only make older genlab refuse files it can still read. Bump it when a change
# breaks older readers (a column renamed or its meaning changed).
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sweep_key TEXT NOT NULL,       -- the sweep as asked for (random seeds unresolved)
    definition TEXT NOT NULL,      -- JSON, random seeds resolved: what was run
    out_dir TEXT NOT NULL,
    folder TEXT NOT NULL,          -- where the images go
    cell_count INTEGER NOT NULL,
    status TEXT NOT NULL,          -- running, finished, stopped
    error TEXT,
    version TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_key ON runs (sweep_key, out_dir);
CREATE TABLE IF NOT EXISTS cells (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    cell_index INTEGER NOT NULL,
    position TEXT NOT NULL,        -- JSON [x, y, z]
    labels TEXT NOT NULL,          -- JSON [x label, y label, z label]
    request TEXT NOT NULL,         -- JSON GenerationRequest of this one image
    image_path TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    timings TEXT NOT NULL,         -- JSON seconds: generate_s (share of its batch), ...
    metrics TEXT,                  -- JSON, filled in by later measurements
    finished_at TEXT NOT NULL,
    PRIMARY KEY (run_id, cell_index)
);
CREATE TABLE IF NOT EXISTS run_metrics (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    extractor TEXT NOT NULL,       -- feature extractor the measurement used
    json TEXT NOT NULL,            -- a RunMetrics (genlab.lab.measurements) as JSON
    measured_at TEXT NOT NULL,
    PRIMARY KEY (run_id, extractor)
);
"""


class RunStoreError(GenlabError):
    """A run store that cannot be read, or a run it does not hold."""


@dataclass(frozen=True)
class CellRecord:
    index: int
    position: tuple[int, int, int]
    labels: tuple[str, str, str]
    request: dict[str, Any]
    image_path: Path
    image_sha256: str
    timings: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None
    finished_at: str = ""


@dataclass(frozen=True)
class RunSummary:
    id: int
    key: str
    definition: dict[str, Any]
    out_dir: Path
    folder: Path
    cell_count: int
    cells_done: int
    status: str
    error: str | None
    version: str
    started_at: str
    finished_at: str | None


@dataclass(frozen=True)
class TimingSummary:
    cells: int
    total_s: float  # generation, saving and model loading together
    mean_s: float  # generation seconds per image, from here on
    median_s: float
    min_s: float
    max_s: float


@dataclass(frozen=True)
class Comparison:
    a: RunSummary
    b: RunSummary
    differences: tuple[tuple[str, Any, Any], ...]  # (setting, value in a, value in b)
    timings: tuple[TimingSummary | None, TimingSummary | None]


class RunStore:
    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise RunStoreError(f"no runs recorded: {self.path} does not exist")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path)
            # WAL: readers never block the writer. synchronous=NORMAL keeps every
            # commit through a killed process (only power loss can lose the last ones).
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except sqlite3.DatabaseError as err:
            raise RunStoreError(f"{self.path} is not a readable run store: {err}") from None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._db:  # commits on success, rolls back on an exception
            yield self._db

    def _migrate(self) -> None:
        self._db.executescript(_SCHEMA)  # every statement is IF NOT EXISTS
        row = self._db.execute("SELECT max(version) FROM schema_version").fetchone()
        if row[0] is None:
            with self._transaction() as db:
                db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
        elif row[0] > SCHEMA_VERSION:
            raise RunStoreError(
                f"{self.path} has schema version {row[0]}; this genlab reads up to "
                f"{SCHEMA_VERSION} (upgrade genlab)"
            )

    # -- writing ------------------------------------------------------------------------

    def start_run(
        self, definition: Mapping[str, Any], *, key: str, out_dir: Path, cell_count: int
    ) -> int:
        """A new run; its images go to `out_dir/sweep-<id>`."""
        from genlab.core.metadata import version_string

        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (sweep_key, definition, out_dir, folder, cell_count, status,"
                " version, started_at) VALUES (?, ?, ?, '', ?, 'running', ?, ?)",
                (
                    key,
                    _json(definition),
                    self._stored(out_dir),
                    cell_count,
                    version_string(),
                    _now(),
                ),
            )
            run_id = int(cursor.lastrowid or 0)
            folder = self._stored(Path(out_dir) / f"sweep-{run_id:04d}")
            db.execute("UPDATE runs SET folder = ? WHERE id = ?", (folder, run_id))
        return run_id

    def reopen_run(self, run_id: int) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET status = 'running', error = NULL, finished_at = NULL WHERE id = ?",
                (run_id,),
            )

    def record_cell(self, run_id: int, cell: CellRecord) -> None:
        """Store one finished cell (replacing an earlier record of it), in one commit."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    cell.index,
                    _json(list(cell.position)),
                    _json(list(cell.labels)),
                    _json(cell.request),
                    self._stored(cell.image_path),
                    cell.image_sha256,
                    _json(cell.timings),
                    None if cell.metrics is None else _json(cell.metrics),
                    cell.finished_at or _now(),
                ),
            )

    def set_metrics(self, run_id: int, index: int, metrics: Mapping[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE cells SET metrics = ? WHERE run_id = ? AND cell_index = ?",
                (_json(metrics), run_id, index),
            )

    def merge_metrics(self, run_id: int, changes: Mapping[int, Mapping[str, Any]]) -> None:
        """Merge each cell's `changes` (cell index -> {key: value}) into its metrics, in
        one commit: keys given replace those keys, others (another measurement's) stay."""
        with self._transaction() as db:
            for index, update in changes.items():
                row = db.execute(
                    "SELECT metrics FROM cells WHERE run_id = ? AND cell_index = ?",
                    (run_id, index),
                ).fetchone()
                if row is None:
                    raise RunStoreError(f"run {run_id} has no cell {index} in {self.path}")
                merged = {**(json.loads(row[0]) if row[0] else {}), **update}
                db.execute(
                    "UPDATE cells SET metrics = ? WHERE run_id = ? AND cell_index = ?",
                    (_json(merged), run_id, index),
                )

    def save_run_metrics(self, run_id: int, extractor: str, data: Mapping[str, Any]) -> None:
        """Keep a run's measurement with `extractor`, replacing an earlier one."""
        self.get_run(run_id)  # a clear error for an unknown run, not a foreign-key one
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO run_metrics VALUES (?, ?, ?, ?)",
                (run_id, extractor, _json(data), _now()),
            )

    def run_metrics(self, run_id: int, extractor: str) -> tuple[dict[str, Any], str] | None:
        """The stored measurement of a run with `extractor` and when it was made."""
        row = self._db.execute(
            "SELECT json, measured_at FROM run_metrics WHERE run_id = ? AND extractor = ?",
            (run_id, extractor),
        ).fetchone()
        return None if row is None else (json.loads(row[0]), row[1])

    def measured_extractors(self, run_id: int) -> list[str]:
        rows = self._db.execute(
            "SELECT extractor FROM run_metrics WHERE run_id = ? ORDER BY extractor", (run_id,)
        ).fetchall()
        return [row[0] for row in rows]

    def finish_run(self, run_id: int, status: str = "finished", error: str | None = None) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                (status, error, _now(), run_id),
            )

    # -- reading ------------------------------------------------------------------------

    def find_run(self, key: str, out_dir: Path) -> RunSummary | None:
        """The latest run of this sweep into this folder, if any."""
        row = self._db.execute(
            f"{_SUMMARY} WHERE sweep_key = ? AND out_dir = ? ORDER BY id DESC LIMIT 1",
            (key, self._stored(out_dir)),
        ).fetchone()
        return None if row is None else self._summary(row)

    def list_runs(self) -> list[RunSummary]:
        rows = self._db.execute(f"{_SUMMARY} ORDER BY id").fetchall()
        return [self._summary(row) for row in rows]

    def get_run(self, run_id: int) -> RunSummary:
        row = self._db.execute(f"{_SUMMARY} WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            known = [str(r.id) for r in self.list_runs()]
            raise RunStoreError(
                f"no run {run_id} in {self.path}; runs: {', '.join(known) or 'none yet'}"
            )
        return self._summary(row)

    def latest_run(self) -> RunSummary:
        row = self._db.execute("SELECT max(id) FROM runs").fetchone()
        if row[0] is None:
            raise RunStoreError(f"no runs recorded in {self.path} yet")
        return self.get_run(row[0])

    def cells(self, run_id: int) -> list[CellRecord]:
        rows = self._db.execute(
            "SELECT cell_index, position, labels, request, image_path, image_sha256, timings,"
            " metrics, finished_at FROM cells WHERE run_id = ? ORDER BY cell_index",
            (run_id,),
        ).fetchall()
        return [
            CellRecord(
                index=row[0],
                position=tuple(json.loads(row[1])),
                labels=tuple(json.loads(row[2])),
                request=json.loads(row[3]),
                image_path=self._resolved(row[4]),
                image_sha256=row[5],
                timings=json.loads(row[6]),
                metrics=None if row[7] is None else json.loads(row[7]),
                finished_at=row[8],
            )
            for row in rows
        ]

    def compare(self, a: int, b: int) -> Comparison:
        """Which settings differ between two runs, and how long their cells took."""
        run_a, run_b = self.get_run(a), self.get_run(b)
        settings_a, settings_b = settings_of(run_a.definition), settings_of(run_b.definition)
        differences = tuple(
            (name, settings_a.get(name), settings_b.get(name))
            for name in sorted(settings_a.keys() | settings_b.keys())
            if settings_a.get(name) != settings_b.get(name)
        )
        timings = (timing_summary(self.cells(a)), timing_summary(self.cells(b)))
        return Comparison(run_a, run_b, differences, timings)

    # -- paths and rows -----------------------------------------------------------------

    def _stored(self, path: Path) -> str:
        path = Path(path).resolve()
        home = self.path.parent.resolve()
        return str(path.relative_to(home)) if path.is_relative_to(home) else str(path)

    def _resolved(self, text: str) -> Path:
        return self.path.parent / text

    def _summary(self, row: tuple) -> RunSummary:
        return RunSummary(
            id=row[0],
            key=row[1],
            definition=json.loads(row[2]),
            out_dir=self._resolved(row[3]),
            folder=self._resolved(row[4]),
            cell_count=row[5],
            cells_done=row[6],
            status=row[7],
            error=row[8],
            version=row[9],
            started_at=row[10],
            finished_at=row[11],
        )


_SUMMARY = (
    "SELECT id, sweep_key, definition, out_dir, folder, cell_count,"
    " (SELECT count(*) FROM cells WHERE cells.run_id = runs.id),"
    " status, error, version, started_at, finished_at FROM runs"
)


def open_store(path: Path, *, create: bool = True) -> RunStore:
    """The store at `path` (a file, or a folder holding genlab-runs.sqlite)."""
    path = Path(path)
    return RunStore(path / DB_NAME if path.is_dir() else path, create=create)


def timing_summary(cells: list[CellRecord]) -> TimingSummary | None:
    if not cells:
        return None
    per_image = [float(c.timings.get("generate_s", 0.0)) for c in cells]
    total = sum(float(v) for c in cells for k, v in c.timings.items() if k.endswith("_s"))
    return TimingSummary(
        cells=len(cells),
        total_s=total,
        mean_s=statistics.fmean(per_image),
        median_s=statistics.median(per_image),
        min_s=min(per_image),
        max_s=max(per_image),
    )


def settings_of(definition: Mapping[str, Any]) -> dict[str, Any]:
    """A definition flattened for comparison: each setting, and each axis as flag text."""
    from genlab.lab.axes import Axis

    flat = dict(definition.get("fields", {}))
    for name, axis in definition.get("axes", {}).items():
        flat[f"axis {name.upper()}"] = Axis.from_dict(axis).spec()
    return flat


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
