"""`genlab eval DIR_A DIR_B` and `genlab eval --run ID` through the real `genlab` app,
beside the `adherence` and `sr` subcommands, with the stand-in extractor of
tests/services/test_compare.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from genlab.cli.main import app
from genlab.lab.measure import load_run_metrics
from genlab.metrics import features
from genlab.services.evaluation import FD_INTERVAL
from tests.lab.test_compare import STAND_IN, render

runner = CliRunner()
CIRCLES = "a red circle on a blue background"


def invoke(*args: str):
    return runner.invoke(app, ["eval", *args])


@pytest.fixture(autouse=True)
def stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(features.EXTRACTORS, STAND_IN, "tests.lab.test_compare")


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("folders")
    mixed = render(root / "mixed", CIRCLES, range(6))
    render(mixed, CIRCLES, range(6, 9), size=(96, 64))
    return {
        "circles": render(root / "circles", CIRCLES, range(10)),
        "copy": render(root / "copy", CIRCLES, range(10)),
        "squares": render(root / "squares", "a yellow square on a green background", range(10)),
        "mixed": mixed,
        "few": render(root / "few", CIRCLES, range(2)),
    }


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    args = ["sweep", CIRCLES, "--x", "seed=1-4", "--y", "sr=red,yellow", "-W", "64", "-H", "64"]
    result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_help_lists_the_subcommands_and_the_folder_and_run_forms() -> None:
    result = invoke("--help")
    assert result.exit_code == 0, result.output
    assert "adherence" in result.output and "sr " in result.output
    assert "DIR_A DIR_B | --run ID | COMMAND" in result.output
    assert "measure" not in result.output.split("Commands")[-1]  # the hidden default
    assert invoke().exit_code == 2  # no arguments: the help, as for other groups


def test_subcommands_still_get_their_arguments() -> None:
    adherence = invoke("adherence", "-n", "0")
    assert adherence.exit_code == 2
    assert adherence.output.startswith("error: images_per_prompt=0 is invalid: must be 1 to 64")
    sr = invoke("sr", "--help")  # running it loads an upscaler: its help shows the routing
    assert sr.exit_code == 0 and "Usage: genlab eval sr [OPTIONS]" in sr.output
    assert "PSNR and SSIM" in sr.output


def test_two_folders_print_a_table_and_write_json(folders, tmp_path: Path) -> None:
    target = tmp_path / "deep" / "same.json"
    same = invoke(
        str(folders["circles"]), str(folders["copy"]), "-e", STAND_IN, "--json", str(target)
    )
    assert same.exit_code == 0, same.output
    lines = same.output.splitlines()
    assert lines[0] == f"A: {folders['circles']} — 10 images (64x64 ×10)"
    row = next(line for line in lines if line.startswith("FD[stand-in]"))
    # FD of a folder against its copy is 0; the bootstrap interval sits above it (resamples
    # repeat images, which FD counts as a difference between the sets).
    assert row.split()[1] == "0" and row.split()[2].startswith("[")
    assert "10 / 10" in row and row.rstrip().endswith(STAND_IN)
    assert f"FD[stand-in]: {FD_INTERVAL}, 50 resamples" in " ".join(same.output.split())
    data = json.loads(target.read_text())
    assert data["extractor"] == STAND_IN and data["dim"] == 6
    assert data["folders"]["b"]["images"] == 10 and data["resize"].startswith("none")
    other = invoke(
        str(folders["circles"]),
        str(folders["squares"]),
        "-e",
        STAND_IN,
        "--json",
        str(tmp_path / "other.json"),
        "--resamples",
        "0",
    )
    assert other.exit_code == 0, other.output
    fd = {m["name"]: m for m in json.loads((tmp_path / "other.json").read_text())["metrics"]}
    assert fd["FD[stand-in]"]["value"] > 0.05 and fd["FD[stand-in]"]["low"] is None


def test_mixed_sizes_and_a_small_folder_are_reported(folders) -> None:
    result = invoke(str(folders["circles"]), str(folders["mixed"]), "-e", STAND_IN)
    assert result.exit_code == 0, result.output
    assert f"B: {folders['mixed']} — 9 images (64x64 ×6, 96x64 ×3)" in result.output
    assert "images resized: none: statistics over all pixels, at any size" in result.output
    small = render(folders["few"].parent / "five", CIRCLES, range(5))
    result = invoke(str(folders["circles"]), str(small), "-e", STAND_IN)
    assert result.exit_code == 0, result.output
    assert "note: FD[stand-in] left out: it needs more images than the extractor's 6" in (
        " ".join(result.output.split())
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{circles}", "{root}/nowhere"], "error: folder B does not exist: "),
        (["{circles}", "{few}"], "error: folder B ({few}) has 2 images (.png .jpg .jpeg .webp"),
        (["{broken}", "{circles}"], "error: 2 files in folder A cannot be read: bad1.png (is not"),
        (
            ["{circles}"],
            "error: folders='{circles}' is invalid: give two image folders (genlab eval DIR_A "
            "DIR_B), --run ID, or a command: adherence, sr\n",
        ),
        (["adherance"], "error: folders='adherance' is invalid: give two image"),
        (["{circles}", "{copy}", "--run", "1"], "error: run='1' is invalid: give two folders or"),
        (["{circles}", "{copy}", "-e", "vgg"], "error: extractor='vgg' is invalid: must be one of"),
        (["{circles}", "{copy}", "--resamples", "1"], "error: resamples=1 is invalid: must be 0"),
    ],
)
def test_folder_mistakes_are_one_line_exit_2(folders, args, message) -> None:
    broken = folders["few"].parent / "broken"
    if not broken.exists():
        render(broken, CIRCLES, range(4))
        (broken / "bad1.png").write_bytes(b"junk")
        (broken / "bad2.jpg").write_bytes(b"junk")
    names = {**{k: str(v) for k, v in folders.items()}, "broken": str(broken)}
    names["root"] = str(folders["few"].parent)
    default = [] if "-e" in args else ["-e", STAND_IN]
    result = invoke(*(a.format(**names) for a in args), *default)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message.format(**names))
    assert len(result.output.strip().splitlines()) == 1


def test_a_run_is_measured_shown_and_stored(out: Path, tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    result = invoke("--run", "last", "-o", str(out), "-e", STAND_IN, "--json", str(target))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"run 1: {CIRCLES!r}"
    assert lines[1].startswith(f"extractor: {STAND_IN}; reference: procedural renders")
    groups = [line.split()[:2] for line in lines if line[:1] in "xyo" and "adherence" in line]
    assert groups == [
        ["x", "seed=1"],
        ["x", "seed=2"],
        ["x", "seed=3"],
        ["x", "seed=4"],
        ["y", "Prompt"],
        ["y", "Prompt"],
        ["overall", "adherence"],
    ]
    assert "note: FD[stand-in] is left out of groups with no more images" in result.output
    stored = load_run_metrics(out, 1, STAND_IN)
    assert json.loads(target.read_text()) == json.loads(json.dumps(stored.to_dict()))
    assert [g.images for g in stored.groups] == [2, 2, 2, 2, 4, 4]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--run", "x"], "error: RUN='x' is invalid: a run id (see `genlab runs list`) or 'last'"),
        (["--run", "9"], "error: no run 9 in "),
        (["--run", "1", "--reference", "sd"], "error: reference='sd' is invalid: must be one of"),
        (["--run", "1", "--db", "{out}/nothing.sqlite"], "error: no runs recorded: "),
    ],
)
def test_run_mistakes_are_one_line_exit_2(out: Path, args, message) -> None:
    args = [a.format(out=out) for a in args]
    result = invoke(*args, "-o", str(out), "-e", STAND_IN)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message)
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.weights
def test_the_default_shapes_extractor_works_when_shipped(folders) -> None:
    from genlab.core.errors import GenlabError

    try:
        features.get_extractor("shapes")
    except (GenlabError, ModuleNotFoundError) as err:
        pytest.skip(f"the shapes extractor is not available here: {err}")
    result = invoke(str(folders["circles"]), str(folders["squares"]))
    assert result.exit_code == 0, result.output
    assert "KID[shapes]" in result.output and "extractor: shapes (" in result.output


def test_a_tiny_random_shapes_encoder_from_weights_runs_both_forms(folders, out, tmp_path) -> None:
    """The real `shapes` extractor (randomly initialised, 8-D) through --weights."""
    pytest.importorskip("genlab.metrics.shapes_encoder")
    torch = pytest.importorskip("torch")
    from genlab.metrics.shapes_encoder_net import EncoderConfig, ShapesEncoder, save_encoder

    torch.manual_seed(0)
    model = ShapesEncoder(EncoderConfig(widths=(4, 8, 8, 8), readout=2, embed_dim=8))
    save_encoder(
        model.eval(), tmp_path / "enc", training={}, accuracy={}, seconds=0.0, held_out_images=0
    )
    weights = ["--weights", str(tmp_path / "enc"), "--device", "cpu"]
    result = invoke(str(folders["circles"]), str(folders["copy"]), *weights)
    assert result.exit_code == 0, result.output
    assert "extractor: shapes (8-D); images resized: " in result.output
    assert next(line for line in result.output.splitlines() if line.startswith("FD[shapes]"))
    result = invoke("--run", "1", "-o", str(out), *weights, "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "r.json").read_text())["extractor"] == "shapes"
