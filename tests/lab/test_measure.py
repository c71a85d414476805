"""Measuring recorded sweep runs: groups per axis value, adherence as the detector sees
each image, distances to procedural reference renders, and what is stored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from genlab.core.errors import InvalidRequest
from genlab.lab.measure import PROCEDURAL_REFERENCE, load_run_metrics, measure_run, wilson_interval
from genlab.lab.measurements import RunMetrics
from genlab.lab.records import RunStoreError, open_store
from genlab.lab.runner import file_sha256, run_sweep
from genlab.lab.sweep import definition_from
from genlab.metrics import features
from genlab.metrics.adherence import judge
from genlab.services.generation import generate, new_request
from genlab.world.detect import detect
from tests.lab.test_compare import STAND_IN

PROMPT = "a red circle on a blue background"


@pytest.fixture(autouse=True)
def stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(features.EXTRACTORS, STAND_IN, "tests.lab.test_compare")


def sweep(out: Path, x: str, y: str | None = None) -> tuple[Path, int]:
    fields = {"prompt": PROMPT, "width": 64, "height": 64, "seed": 1, "model": "procedural"}
    outcome = run_sweep(definition_from(fields, {"x": x, "y": y}), out)
    return outcome.database, outcome.run_id


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, RunMetrics]:
    """8 seeds x 2 colours, measured once: x groups hold 2 cells, y groups 8 (> D = 6)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(features.EXTRACTORS, STAND_IN, "tests.lab.test_compare")
        database, run_id = sweep(tmp_path_factory.mktemp("run"), "seed=1-8", "sr=red,yellow")
        with open_store(database) as store:  # another measurement's cell metric must survive
            store.set_metrics(run_id, 0, {"clip_score": 0.25})
        seen: list[tuple[str, int, int]] = []
        result = measure_run(
            database, run_id, extractor=STAND_IN, on_progress=lambda *a: seen.append(a)
        )
    assert seen == [("cells", 0, 16), ("cells", 16, 16)]
    return database, run_id, result


def detector_says(database: Path, run_id: int) -> dict[int, bool]:
    with open_store(database) as store:
        cells = store.cells(run_id)
    verdicts = {}
    for cell in cells:
        with Image.open(cell.image_path) as image:
            verdicts[cell.index] = judge(cell.request["prompt"], detect(image.convert("RGB")))
    return verdicts


def test_groups_follow_the_axes_and_adherence_is_what_the_detector_says(measured) -> None:
    database, run_id, result = measured
    assert [(g.axis, g.index, g.label, g.images) for g in result.groups] == [
        *[("x", i, str(i + 1), 2) for i in range(8)],
        ("y", 0, "red", 8),
        ("y", 1, "yellow", 8),
    ]
    assert result.axes() == [("x", "seed"), ("y", "Prompt S/R")]
    verdicts = detector_says(database, run_id)
    # Cells run x fastest: cell i is seed i % 8 + 1, colour i // 8.
    for group in result.groups:
        members = [i for i in range(16) if (i % 8 if group.axis == "x" else i // 8) == group.index]
        adherence = group.metrics["adherence"]
        assert adherence.n == len(members)
        assert adherence.value == pytest.approx(sum(verdicts[i] for i in members) / len(members))
        assert 0.0 <= adherence.low <= adherence.value <= adherence.high <= 1.0
    overall = result.overall["adherence"]
    assert overall.n == 16 and overall.value == pytest.approx(sum(verdicts.values()) / 16)


def test_fd_needs_more_images_than_dimensions_and_diversity_needs_seeds(measured) -> None:
    _, _, result = measured
    for group in result.groups:
        names = set(group.metrics)
        if group.axis == "x":  # 2 cells, different prompts: no FD, no seed set
            assert names == {"adherence", "kid"}
        else:  # 8 seeds of one prompt
            assert names == {"adherence", "diversity", "fd", "kid"}
            fd = group.metrics["fd"]
            # The run is procedural, so its reference renders are the same images.
            assert fd.value == pytest.approx(0.0, abs=1e-9) and fd.n == 8
            assert fd.extractor == STAND_IN and fd.low is not None and fd.high >= fd.low
            diversity = group.metrics["diversity"]
            assert diversity.value > 0 and diversity.n == 8
    assert result.reference == PROCEDURAL_REFERENCE and result.extractor == STAND_IN
    assert set(result.overall) == {"adherence", "diversity", "fd", "kid"}
    # Overall diversity averages the two prompts' seed sets.
    y_groups = [g.metrics["diversity"].value for g in result.groups if g.axis == "y"]
    assert result.overall["diversity"].value == pytest.approx(sum(y_groups) / 2)


def test_cell_metrics_are_merged_into_the_store(measured) -> None:
    database, run_id, _ = measured
    verdicts = detector_says(database, run_id)
    with open_store(database) as store:
        cells = store.cells(run_id)
    assert cells[0].metrics["clip_score"] == 0.25  # kept
    for cell in cells:
        assert cell.metrics["adherence"]["correct"] == verdicts[cell.index]
        assert cell.metrics["adherence"]["background"] == "blue"
        assert cell.metrics["reference_distance"] == {STAND_IN: pytest.approx(0.0, abs=1e-12)}


def test_the_stored_measurement_reads_back_equal(measured) -> None:
    database, run_id, result = measured
    assert load_run_metrics(database, run_id, STAND_IN) == result
    assert load_run_metrics(database.parent, run_id, STAND_IN) == result  # folder works too
    assert RunMetrics.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    with pytest.raises(RunStoreError, match="has not been measured with 'shapes'; measured with"):
        load_run_metrics(database, run_id, "shapes")


def test_prompts_the_detector_cannot_judge_are_skipped_and_said_so(tmp_path: Path) -> None:
    """A hand-recorded run (as another model would leave it): a prompt with no Shapes World
    object, and one the parser refuses (so no procedural reference either)."""
    prompts = [PROMPT, "a cat on a blue background", "five red circles and two squares"]
    with open_store(tmp_path) as store:
        definition = {"fields": {"prompt": PROMPT}, "axes": {"x": {"axis": "sr", "values": []}}}
        run_id = store.start_run(definition, key="k", out_dir=tmp_path, cell_count=6)
        folder = store.get_run(run_id).folder
        folder.mkdir()
        for index in range(6):
            prompt, seed = prompts[index % 3], index // 3
            request = new_request(prompt=PROMPT, model="procedural", width=64, height=64, seed=seed)
            path = folder / f"{index}.png"
            generate(request).images[0].save(path)
            store.record_cell(run_id, _cell(index, prompt, seed, path))
    result = measure_run(tmp_path, run_id, extractor=STAND_IN)
    with open_store(tmp_path) as store:
        cells = store.cells(run_id)
    skipped = [c.metrics["adherence"].get("skipped") for c in cells]
    assert skipped[1] == "the prompt names no Shapes World object"
    assert skipped[2].startswith("not a Shapes World prompt: Shapes World draws 1 to 3 objects")
    assert skipped[0] is None and "correct" in cells[0].metrics["adherence"]
    assert "reference_distance" not in cells[2].metrics  # the engine refuses that prompt
    assert "reference_distance" in cells[1].metrics
    by_label = {g.label: g for g in result.groups}
    assert by_label["a cat"].metrics.keys() == {"diversity", "kid"}  # not judged
    assert "kid" not in by_label["five"].metrics  # no reference renders
    assert result.overall["adherence"].n == 2 and result.overall["kid"].n == 4


def _cell(index: int, prompt: str, seed: int, path: Path):
    from genlab.lab.records import CellRecord

    request = new_request(prompt=prompt, model="procedural", width=64, height=64, seed=seed)
    label = prompt.split(" on ")[0].split(" red ")[0]
    return CellRecord(
        index=index,
        position=(index % 3, 0, 0),
        labels=(label, "", ""),
        request=request.to_dict(),
        image_path=path,
        image_sha256=file_sha256(path),
    )


def test_without_a_reference_there_is_no_fd_or_kid(tmp_path: Path) -> None:
    database, run_id = sweep(tmp_path, "seed=1-3")
    result = measure_run(database, run_id, extractor=STAND_IN, reference="none")
    assert result.reference is None
    assert all(set(g.metrics) == {"adherence"} for g in result.groups)
    assert set(result.overall) == {"adherence", "diversity"}
    with open_store(database) as store:
        assert all("reference_distance" not in c.metrics for c in store.cells(run_id))


def test_mistakes_name_the_run_cell_or_value(tmp_path: Path) -> None:
    database, run_id = sweep(tmp_path, "seed=1,2")
    with pytest.raises(RunStoreError, match=r"^no run 7 in .*; runs: 1$"):
        measure_run(database, 7, extractor=STAND_IN)
    with pytest.raises(InvalidRequest, match="reference='sd' is invalid: must be one of"):
        measure_run(database, run_id, extractor=STAND_IN, reference="sd")
    with pytest.raises(RunStoreError, match="does not exist"):
        measure_run(tmp_path / "elsewhere.sqlite", run_id, extractor=STAND_IN)
    with open_store(database) as store:
        first, second = (c.image_path for c in store.cells(run_id))
    shutil.copy(second, first)
    with pytest.raises(RunStoreError, match=r"^cell 0's image changed since the run recorded"):
        measure_run(database, run_id, extractor=STAND_IN)
    first.unlink()
    with pytest.raises(RunStoreError, match=r"^cell 0's image is missing: .*re-run the sweep"):
        measure_run(database, run_id, extractor=STAND_IN)


def test_wilson_interval_stays_inside_0_1_and_matches_a_known_value() -> None:
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
