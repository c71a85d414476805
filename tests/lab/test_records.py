"""The SQLite run store: schema, one commit per cell, paths, listing and comparing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from genlab.lab.records import (
    _SCHEMA,
    DB_NAME,
    SCHEMA_VERSION,
    CellRecord,
    RunStoreError,
    open_store,
)

DEFINITION = {
    "fields": {"prompt": "a red circle", "seed": 1, "steps": 20},
    "axes": {"x": {"axis": "seed", "values": [1, 2], "set": None}},
}


def cell(index: int, path: Path, seconds: float = 0.5) -> CellRecord:
    return CellRecord(
        index=index,
        position=(index, 0, 0),
        labels=(str(index + 1), "", ""),
        request={"prompt": "a red circle", "seed": index + 1},
        image_path=path,
        image_sha256="ab" * 32,
        timings={"generate_s": seconds, "save_s": 0.1, "batch_size": 2},
    )


def test_a_new_store_has_wal_mode_and_a_schema_version(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        assert store.path == tmp_path / DB_NAME
    db = sqlite3.connect(tmp_path / DB_NAME)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    db.close()
    with open_store(tmp_path) as store:  # opening again adds no second version row
        pass
    db = sqlite3.connect(tmp_path / DB_NAME)
    assert db.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 1
    db.close()


def test_cells_are_stored_relative_to_the_database_and_read_back(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        run_id = store.start_run(DEFINITION, key="k1", out_dir=tmp_path, cell_count=2)
        run = store.get_run(run_id)
        assert (run.status, run.cells_done, run.folder) == ("running", 0, tmp_path / "sweep-0001")
        store.record_cell(run_id, cell(0, run.folder / "00000-1.png"))
        store.record_cell(run_id, cell(0, run.folder / "00000-1.png", seconds=0.7))  # replaced
        store.set_metrics(run_id, 0, {"clip_score": 0.31})
        store.finish_run(run_id)
    raw = sqlite3.connect(tmp_path / DB_NAME).execute("SELECT image_path FROM cells").fetchall()
    assert raw == [(str(Path("sweep-0001") / "00000-1.png"),)]
    with open_store(tmp_path / DB_NAME, create=False) as store:
        run = store.get_run(run_id)
        (stored,) = store.cells(run_id)
    assert (run.status, run.cells_done, run.definition) == ("finished", 1, DEFINITION)
    assert stored.image_path == tmp_path / "sweep-0001" / "00000-1.png"
    assert stored.timings["generate_s"] == 0.7
    assert stored.metrics == {"clip_score": 0.31}
    assert (stored.position, stored.labels) == ((0, 0, 0), ("1", "", ""))


def test_find_run_returns_the_latest_run_of_a_sweep_in_a_folder(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        first = store.start_run(DEFINITION, key="k1", out_dir=tmp_path, cell_count=2)
        second = store.start_run(DEFINITION, key="k1", out_dir=tmp_path, cell_count=2)
        store.start_run(DEFINITION, key="k2", out_dir=tmp_path, cell_count=2)
        assert store.find_run("k1", tmp_path).id == second != first
        assert store.find_run("k1", tmp_path / "elsewhere") is None
        assert [r.id for r in store.list_runs()] == [1, 2, 3]
        assert store.latest_run().id == 3


def test_compare_names_the_settings_that_differ_and_sums_timings(tmp_path: Path) -> None:
    other = {
        "fields": {"prompt": "a red circle", "seed": 1, "steps": 30, "width": 64},
        "axes": {"x": {"axis": "seed", "values": [1, 2, 3], "set": None}},
    }
    with open_store(tmp_path) as store:
        a = store.start_run(DEFINITION, key="a", out_dir=tmp_path, cell_count=2)
        b = store.start_run(other, key="b", out_dir=tmp_path, cell_count=3)
        store.record_cell(a, cell(0, tmp_path / "a0.png", 0.2))
        store.record_cell(a, cell(1, tmp_path / "a1.png", 0.4))
        comparison = store.compare(a, b)
    assert comparison.differences == (
        ("axis X", "seed=1,2", "seed=1-3"),
        ("steps", 20, 30),
        ("width", None, 64),
    )
    timing_a, timing_b = comparison.timings
    assert timing_b is None
    assert (timing_a.cells, timing_a.min_s, timing_a.max_s) == (2, 0.2, 0.4)
    assert timing_a.mean_s == timing_a.median_s == pytest.approx(0.3)
    assert timing_a.total_s == pytest.approx(0.8)  # generate and save seconds


def test_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(RunStoreError, match=r"no runs recorded: .* does not exist"):
        open_store(tmp_path / DB_NAME, create=False)
    with open_store(tmp_path) as store:
        store.start_run(DEFINITION, key="k", out_dir=tmp_path, cell_count=2)
        with pytest.raises(RunStoreError, match=r"no run 7 in .*; runs: 1"):
            store.get_run(7)
    bogus = tmp_path / "bogus.sqlite"
    bogus.write_text("not a database")
    with pytest.raises(RunStoreError, match="is not a readable run store"):
        open_store(bogus)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    open_store(tmp_path).close()
    db = sqlite3.connect(tmp_path / DB_NAME)
    db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(RunStoreError, match="schema version 2; this genlab reads up to 1"):
        open_store(tmp_path)


def test_merge_metrics_keeps_other_measurements_keys(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        run_id = store.start_run(DEFINITION, key="k", out_dir=tmp_path, cell_count=2)
        store.record_cell(run_id, cell(0, tmp_path / "a.png"))
        store.record_cell(run_id, cell(1, tmp_path / "b.png"))
        store.set_metrics(run_id, 0, {"clip_score": 0.31, "adherence": {"correct": False}})
        store.merge_metrics(run_id, {0: {"adherence": {"correct": True}}, 1: {"fd": 2.0}})
        first, second = store.cells(run_id)
        with pytest.raises(RunStoreError, match=r"^run 1 has no cell 5 in "):
            store.merge_metrics(run_id, {1: {"x": 1}, 5: {"x": 1}})
        assert store.cells(run_id)[1].metrics == {"fd": 2.0}  # the failed merge left nothing
    assert first.metrics == {"clip_score": 0.31, "adherence": {"correct": True}}
    assert second.metrics == {"fd": 2.0}


def test_run_metrics_are_kept_per_run_and_extractor(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        run_id = store.start_run(DEFINITION, key="k", out_dir=tmp_path, cell_count=2)
        assert store.run_metrics(run_id, "shapes") is None
        store.save_run_metrics(run_id, "shapes", {"run_id": run_id, "n": 1})
        store.save_run_metrics(run_id, "shapes", {"run_id": run_id, "n": 2})  # replaces
        store.save_run_metrics(run_id, "clip", {"run_id": run_id, "n": 3})
        data, measured_at = store.run_metrics(run_id, "shapes")
        assert data == {"run_id": run_id, "n": 2} and measured_at.startswith("20")
        assert store.measured_extractors(run_id) == ["clip", "shapes"]
        with pytest.raises(RunStoreError, match="no run 9 in"):
            store.save_run_metrics(9, "shapes", {})


def test_a_store_written_before_run_metrics_existed_opens_and_gains_the_table(
    tmp_path: Path,
) -> None:
    # The schema as first released: no run_metrics table, version 1.
    old = sqlite3.connect(tmp_path / DB_NAME)
    old.executescript(_SCHEMA.split("CREATE TABLE IF NOT EXISTS run_metrics")[0])
    old.execute("INSERT INTO schema_version VALUES (1)")
    old.execute(
        "INSERT INTO runs (sweep_key, definition, out_dir, folder, cell_count, status, version,"
        " started_at) VALUES ('k', ?, '.', 'sweep-0001', 2, 'finished', 'genlab 0.1.0', 'then')",
        (json.dumps(DEFINITION),),
    )
    old.commit()
    old.close()
    with open_store(tmp_path) as store:
        assert store.get_run(1).definition == DEFINITION
        store.save_run_metrics(1, "shapes", {"run_id": 1})
        assert store.run_metrics(1, "shapes")[0] == {"run_id": 1}
    db = sqlite3.connect(tmp_path / DB_NAME)
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    db.close()
