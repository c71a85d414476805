"""The `shapes` feature extractor: the shipped encoder, its input rule and its trainer.

The disturbance check is the reason the encoder exists: FD on its features must grow
as images get noisier, blurrier or more occluded, and two clean sets of different
scenes must be closer than any disturbed pair. Run this file as a script
(`python -m tests.metrics.test_shapes_encoder`) to print the FD table the model card
quotes.
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image, ImageFilter
from typer.testing import CliRunner

from genlab.core.errors import GenlabError, InvalidRequest, ModelLoadError
from genlab.metrics.features import get_extractor
from genlab.metrics.frechet import frechet_distance
from genlab.metrics.shapes_encoder import load
from genlab.world.render import render
from genlab.world.scene import random_scene

N_IMAGES = 300  # per set: > 128 feature dimensions, and enough for a stable ordering
DISTURBANCES: dict[str, tuple[float, ...]] = {
    "noise": (8.0, 16.0, 32.0),  # Gaussian noise, standard deviation in 0-255 levels
    # Gaussian blur radius in pixels (of 64). Radius 0.5 barely touches a 64 px render:
    # its FD sat within the spread of clean-vs-clean FDs over other seed pairs (46-51).
    "blur": (1.0, 1.5, 2.0),
    "occlusion": (0.1, 0.2, 0.4),  # one grey box covering this fraction of the image
}


def renders(seed: int, n: int, side: int = 64) -> list[Image.Image]:
    """`n` random Shapes World scenes; the renderer seeds itself from each scene."""
    rng = random.Random(seed)
    return [render(random_scene(rng), side, side) for _ in range(n)]


def disturb(images: list[Image.Image], kind: str, level: float, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for image in images:
        if kind == "blur":
            out.append(image.filter(ImageFilter.GaussianBlur(level)))
            continue
        pixels = np.asarray(image, np.float32)
        if kind == "noise":
            pixels = pixels + rng.normal(0.0, level, pixels.shape)
        else:  # occlusion: a square of mid grey at a random place, fully inside
            height, width = pixels.shape[:2]
            side = round(np.sqrt(level * width * height))
            top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
            pixels[top : top + side, left : left + side] = 128.0
        out.append(Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)))
    return out


def disturbance_table(extractor) -> dict[str, list[tuple[float, float]]]:
    """FD(reference, set) for clean and every disturbance level, on different scenes."""
    reference = extractor.features(renders(1, N_IMAGES))
    clean = renders(2, N_IMAGES)
    table = {"clean": [(0.0, frechet_distance(reference, extractor.features(clean)))]}
    for kind, levels in DISTURBANCES.items():
        table[kind] = [
            (level, frechet_distance(reference, extractor.features(disturb(clean, kind, level))))
            for level in levels
        ]
    return table


@pytest.fixture(scope="module")
def shipped():
    return load(None, "cpu")


@pytest.fixture(scope="module")
def table(shipped):
    return disturbance_table(shipped)


# -- (a) the disturbance check --------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind", DISTURBANCES)
def test_fd_rises_monotonically_with_each_disturbance(table, kind):
    clean_fd = table["clean"][0][1]
    values = [fd for _, fd in table[kind]]
    assert clean_fd < values[0], f"clean {clean_fd:.2f} vs {kind} {values}"
    assert all(a < b for a, b in itertools.pairwise(values)), f"{kind}: {values}"


@pytest.mark.slow
def test_clean_sets_of_other_scenes_are_the_closest(table):
    clean_fd = table["clean"][0][1]
    disturbed = [fd for kind in DISTURBANCES for _, fd in table[kind]]
    assert clean_fd < min(disturbed)
    # Not merely smaller: the mildest disturbance shows clearly above sampling noise.
    assert clean_fd < 0.8 * min(disturbed)


# -- (b) the extractor contract -------------------------------------------------------


def test_features_are_deterministic_float64_of_the_declared_shape(shipped):
    images = renders(3, 10)
    first = shipped.features(images)
    assert shipped.name == "shapes"
    assert first.shape == (10, shipped.dim) and shipped.dim <= 128
    assert first.dtype == np.float64
    np.testing.assert_array_equal(first, shipped.features(images))
    # Batching is bookkeeping only: eval mode, no batch statistics.
    np.testing.assert_allclose(shipped.features(images, batch_size=3), first, atol=1e-4)
    assert get_extractor("shapes").dim == shipped.dim


def test_features_reject_non_images(shipped):
    with pytest.raises(InvalidRequest, match="PIL image"):
        shipped.features([np.zeros((64, 64, 3), np.uint8)])
    with pytest.raises(InvalidRequest, match="batch_size"):
        shipped.features(renders(3, 1), batch_size=0)
    assert shipped.features([]).shape == (0, shipped.dim)


# -- (c) the resize rule --------------------------------------------------------------


def test_a_large_render_lands_next_to_its_64px_twin(shipped):
    rng = random.Random(4)
    scenes = [random_scene(rng) for _ in range(40)]
    small = shipped.features([render(s, 64, 64) for s in scenes])
    large = shipped.features([render(s, 128, 128) for s in scenes])
    pairs = np.linalg.norm(large - small, axis=1)  # (40,) same scene, two sizes
    between = np.linalg.norm(large[:, None] - small[None], axis=2)  # (40, 40)
    others = between[~np.eye(len(scenes), dtype=bool)]
    assert np.median(pairs) < 0.25 * np.median(others)
    # The twin is the nearest 64 px render for nearly every scene.
    assert (between.argmin(axis=1) == np.arange(len(scenes))).mean() >= 0.9


def test_resize_rule_is_the_documented_one(shipped):
    image = renders(5, 1, side=128)[0]
    expected = image.resize((64, 64), Image.Resampling.BICUBIC, reducing_gap=3.0)
    np.testing.assert_array_equal(shipped.features([image]), shipped.features([expected]))
    assert "BICUBIC" in shipped.resize and "reducing_gap=3.0" in shipped.resize
    # Alpha is composited on white: a transparent corner reads as white paper.
    rgba = expected.convert("RGBA")
    rgba.putpixel((0, 0), (10, 200, 30, 0))
    flat = expected.copy()
    flat.putpixel((0, 0), (255, 255, 255))
    np.testing.assert_allclose(shipped.features([rgba]), shipped.features([flat]), atol=1e-6)


# -- (d) training ---------------------------------------------------------------------


def test_tiny_training_writes_a_loadable_deterministic_encoder(tmp_path):
    from genlab.train.shapes_encoder import train_encoder

    steps_seen = []
    runs = []
    for name in ("a", "b"):
        result = train_encoder(
            tmp_path / name, 2, 4, seed=7, threads=1, on_step=steps_seen.append, eval_images=16
        )
        runs.append(result)
    assert [info.step for info in steps_seen] == [1, 2, 1, 2]
    weights = [(tmp_path / n / "model.safetensors").read_bytes() for n in ("a", "b")]
    assert weights[0] == weights[1]  # same seed, same thread count: same bytes
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["training"]["steps"] == 2 and config["held_out_images"] == 16
    assert set(config["held_out_accuracy"]) == set(config["heads"])
    assert config["architecture"]["embed_dim"] == 128 and config["genlab"]
    extractor = get_extractor("shapes", weights=tmp_path / "a")
    feats = extractor.features(renders(6, 3))
    assert feats.shape == (3, 128) and np.isfinite(feats).all()
    assert runs[0].params == config["params"] < 500_000


def test_training_refuses_bad_settings(tmp_path):
    from genlab.train.shapes_encoder import train_encoder

    with pytest.raises(InvalidRequest, match="steps"):
        train_encoder(tmp_path, 0, 4, seed=0, threads=None)
    with pytest.raises(InvalidRequest, match="threads"):
        train_encoder(tmp_path, 1, 4, seed=0, threads=0)


def test_cli_reports_bad_settings_in_one_line(tmp_path):
    from genlab.cli.encoder import shapes_encoder

    app = typer.Typer()
    app.command()(shapes_encoder)
    result = CliRunner().invoke(app, ["--out", str(tmp_path), "--batch-size", "0"])
    assert result.exit_code == 2
    assert "batch_size=0 is invalid" in result.output


# -- (e) bad weights ------------------------------------------------------------------


def _copy_shipped(folder: Path) -> Path:
    from genlab.metrics.shapes_encoder import SHIPPED

    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_bytes((SHIPPED / name).read_bytes())
    return folder


def _one_line_error(weights: Path) -> str:
    with pytest.raises(ModelLoadError) as caught:
        load(weights, "cpu")
    message = str(caught.value)
    assert "\n" not in message and str(weights) in message
    assert isinstance(caught.value, GenlabError)
    return message


def test_missing_folder_is_a_one_line_error(tmp_path):
    assert "not found" in _one_line_error(tmp_path / "nowhere")


def test_corrupt_weights_are_a_one_line_error(tmp_path):
    folder = _copy_shipped(tmp_path / "enc")
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    assert "cannot be loaded" in _one_line_error(folder)


def test_corrupt_or_mismatched_config_is_a_one_line_error(tmp_path):
    folder = _copy_shipped(tmp_path / "enc")
    (folder / "config.json").write_text("{ not json")
    _one_line_error(folder)
    config = json.loads((_copy_shipped(tmp_path / "enc2") / "config.json").read_text())
    config["architecture"]["widths"] = [8, 8, 8, 8]  # weights no longer fit
    (tmp_path / "enc2" / "config.json").write_text(json.dumps(config))
    _one_line_error(tmp_path / "enc2")


if __name__ == "__main__":  # the model card's disturbance table
    for kind, rows in disturbance_table(load(None, "cpu")).items():
        print(kind, "  ".join(f"{level:g}: {fd:.2f}" for level, fd in rows))
