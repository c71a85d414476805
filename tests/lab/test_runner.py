"""Running sweeps on the procedural engine: batching, metadata, resume, one model load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import genlab.engines
from genlab.core.metadata import read_metadata, request_from_metadata
from genlab.lab.records import open_store
from genlab.lab.runner import CellDone, run_sweep
from genlab.lab.sweep import definition_from
from genlab.services.generation import generate

BASE = {"prompt": "a red circle, at night", "width": 64, "height": 64, "seed": 10}


def sweep(x=None, y=None, z=None, **fields):
    return definition_from({**BASE, **fields}, {"x": x, "y": y, "z": z})


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_a_batched_seed_cell_equals_the_same_cell_made_alone(tmp_path: Path) -> None:
    outcome = run_sweep(sweep("seed=20-23"), tmp_path)
    with open_store(outcome.database) as store:
        cells = store.cells(outcome.run_id)
    assert [c.timings["batch_size"] for c in cells] == [4, 4, 4, 4]  # one call made them
    for cell, planned in zip(cells, outcome.plan.cells):
        alone = generate(planned.request)  # batch_size 1
        assert np.array_equal(pixels(cell.image_path), np.asarray(alone.images[0]))


def test_every_image_carries_its_metadata_and_the_record_matches(tmp_path: Path) -> None:
    outcome = run_sweep(sweep("seed=1,2", "sr=red,blue"), tmp_path)
    with open_store(outcome.database) as store:
        cells = store.cells(outcome.run_id)
        run = store.get_run(outcome.run_id)
    assert run.status == "finished" and run.cells_done == run.cell_count == 4
    for cell in cells:
        meta = read_metadata(cell.image_path)
        assert "Seed: " in meta.parameters
        assert request_from_metadata(meta).to_dict() == cell.request
        assert meta.record["sweep"] == {"run": 1, "cell": cell.index, "labels": list(cell.labels)}
    assert request_from_metadata(read_metadata(cells[3].image_path)).prompt.startswith("a blue")
    assert [p.name for p in outcome.sheets] == ["sheet.png"]
    assert "Seed: 1" in read_metadata(outcome.sheets[0]).parameters


def test_resume_after_an_interrupted_run_finishes_it_without_duplicates(tmp_path: Path) -> None:
    definition = sweep("seed=1,3,5", "guidance_scale=3,7")
    complete = run_sweep(definition, tmp_path / "complete")

    def stop_after_two(done: CellDone) -> None:
        if done.done == 2:
            raise KeyboardInterrupt

    out = tmp_path / "interrupted"
    with pytest.raises(KeyboardInterrupt):
        run_sweep(definition, out, on_cell=stop_after_two)
    with open_store(out) as store:
        (run,) = store.list_runs()
        assert (run.status, run.cells_done) == ("stopped", 2)
        assert "KeyboardInterrupt" in run.error

    seen: list[CellDone] = []
    resumed = run_sweep(definition, out, on_cell=seen.append)
    assert (resumed.run_id, resumed.skipped, resumed.generated) == (run.id, 2, 4)
    assert [d.skipped for d in seen] == [True, True, False, False, False, False]
    images = sorted(p.name for p in resumed.folder.glob("0*.png"))
    assert images == sorted(p.name for p in complete.folder.glob("0*.png"))
    for name in images:
        assert np.array_equal(pixels(resumed.folder / name), pixels(complete.folder / name))
    with open_store(out) as store:
        (run,) = store.list_runs()
        assert (run.status, run.cells_done, run.error) == ("finished", 6, None)
        assert [c.index for c in store.cells(run.id)] == list(range(6))


def test_a_finished_sweep_is_not_made_again_but_a_deleted_image_is(tmp_path: Path) -> None:
    definition = sweep("seed=1-3")
    first = run_sweep(definition, tmp_path)
    again = run_sweep(definition, tmp_path)
    assert (again.run_id, again.generated, again.skipped) == (first.run_id, 0, 3)
    (first.folder / "00001-2.png").unlink()
    repaired = run_sweep(definition, tmp_path)
    assert (repaired.generated, repaired.skipped) == (1, 2)
    assert (first.folder / "00001-2.png").is_file()


def test_a_random_seed_is_kept_when_the_run_resumes(tmp_path: Path) -> None:
    definition = sweep("steps=10,20", seed=-1)

    def stop(done: CellDone) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        run_sweep(definition, tmp_path, on_cell=stop)
    resumed = run_sweep(definition, tmp_path)
    with open_store(resumed.database) as store:
        seeds = {c.request["seed"] for c in store.cells(resumed.run_id)}
    assert len(seeds) == 1 and -1 not in seeds
    assert resumed.skipped == 1


def test_fresh_starts_a_new_run_in_a_new_folder(tmp_path: Path) -> None:
    first = run_sweep(sweep("seed=1,2"), tmp_path)
    second = run_sweep(sweep("seed=1,2"), tmp_path, fresh=True)
    assert second.run_id == first.run_id + 1 and second.generated == 2
    assert (first.folder.name, second.folder.name) == ("sweep-0001", "sweep-0002")


def test_each_model_loads_once_even_when_cells_alternate(tmp_path, monkeypatch) -> None:
    loads: list[str] = []
    real = genlab.engines.load_engine

    def counting(model, options=None):
        loads.append(model)
        return real(model, options)

    monkeypatch.setattr(genlab.engines, "load_engine", counting)
    run_sweep(sweep("model=procedural,shapes-world", "seed=1,5,9"), tmp_path)
    assert loads == ["procedural", "shapes-world"]


def test_one_contact_sheet_per_z_value(tmp_path: Path) -> None:
    outcome = run_sweep(sweep("seed=1,2", z="size=64x64,32x32"), tmp_path)
    assert [p.name for p in outcome.sheets] == ["sheet-z0.png", "sheet-z1.png"]
