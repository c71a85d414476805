"""Folder-vs-folder comparison on procedural renders, with a stand-in feature extractor.

The stand-in is a real extractor behind the real registry (`features.EXTRACTORS` points
at this module's `load`): per-channel mean and standard deviation of the pixels, so
D = 6 and FD is defined from 7 images per folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genlab.lab import compare
from genlab.lab.compare import ImageFolderError, compare_folders
from genlab.metrics import features
from genlab.services.generation import generate, new_request

STAND_IN = "stand-in"


class ColourStats:
    """Per-channel mean and std of every pixel: any image size, no resizing."""

    dim = 6
    resize = "none: statistics over all pixels, at any size"

    def __init__(self, name: str = STAND_IN) -> None:
        self.name = name

    def features(self, images: Sequence[Image.Image], batch_size: int = 64) -> np.ndarray:
        rows = []
        for image in images:
            x = np.asarray(image.convert("RGB"), np.float64) / 255  # (H, W, 3)
            rows.append(np.concatenate([x.mean(axis=(0, 1)), x.std(axis=(0, 1))]))
        return np.array(rows)  # (N, 6)


class InceptionLike(ColourStats):
    """Named like the Inception extractor, and like it gives features and logits in one pass."""

    def __init__(self) -> None:
        super().__init__("inception")

    def features_and_logits(
        self, images: Sequence[Image.Image], batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        feats = self.features(images)
        return feats, feats[:, :3] * 10  # 3 "classes": the dominant channel


def load(weights: Path | None, device: str) -> ColourStats:
    return ColourStats()


@pytest.fixture(autouse=True)
def stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(features.EXTRACTORS, STAND_IN, __name__)


def render(folder: Path, prompt: str, seeds: range, size: tuple[int, int] = (64, 64)) -> Path:
    """Procedural renders of `prompt`, one PNG per seed."""
    folder.mkdir(parents=True, exist_ok=True)
    request = new_request(
        prompt=prompt,
        model="procedural",
        width=size[0],
        height=size[1],
        seed=seeds[0],
        batch_size=len(seeds),
    )
    for seed, image in zip(seeds, generate(request).images):
        image.save(folder / f"{seed:03d}-{size[0]}x{size[1]}.png")
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("folders")
    circles = "a red circle on a blue background"
    return {
        "circles": render(root / "circles", circles, range(12)),
        "copy": render(root / "copy", circles, range(12)),
        "squares": render(root / "squares", "a big yellow square on a green background", range(12)),
    }


def test_identical_folders_are_at_distance_zero_and_cover_each_other(folders, monkeypatch) -> None:
    monkeypatch.setattr(compare, "BATCH_SIZE", 5)  # several batches per folder
    result = compare_folders(folders["circles"], folders["copy"], extractor=STAND_IN)
    fd = result.metric("FD[stand-in]")
    assert fd.value == pytest.approx(0.0, abs=1e-9)
    assert fd.n == (12, 12)
    assert fd.low is not None and fd.high is not None and 0.0 <= fd.low <= fd.high
    assert fd.method == f"{compare.FD_INTERVAL}, 50 resamples"
    # Unbiased KID of a set against itself is slightly negative at small N (see kid.py).
    assert abs(result.metric("KID[stand-in]").value) < 0.01
    assert result.metric("precision[stand-in]").value == 1.0
    assert result.metric("recall[stand-in]").value == 1.0
    diversity_a = result.metric("diversity[stand-in] A").value
    assert diversity_a > 0 and diversity_a == result.metric("diversity[stand-in] B").value
    assert not result.notes


def test_different_content_is_farther_and_the_dict_says_how_it_was_measured(folders) -> None:
    same = compare_folders(folders["circles"], folders["copy"], extractor=STAND_IN)
    other = compare_folders(folders["circles"], folders["squares"], extractor=STAND_IN)
    assert other.metric("FD[stand-in]").value > 0.05 > same.metric("FD[stand-in]").value
    assert other.metric("KID[stand-in]").value > 0.05 > same.metric("KID[stand-in]").value
    assert other.metric("precision[stand-in]").value < 0.5
    data = other.to_dict()
    assert data["extractor"] == STAND_IN and data["dim"] == 6
    assert data["resize"] == ColourStats.resize
    assert data["folders"]["a"] == {
        "path": str(folders["circles"]),
        "images": 12,
        "sizes": {"64x64": 12},
    }
    assert data["folders"]["b"]["images"] == 12
    assert {m["name"] for m in data["metrics"]} >= {"FD[stand-in]", "KID[stand-in]"}


def test_mixed_sizes_are_accepted_and_reported(folders, tmp_path: Path) -> None:
    mixed = render(tmp_path / "mixed", "a red circle on a blue background", range(6))
    render(mixed, "a red circle on a blue background", range(6, 10), size=(96, 64))
    result = compare_folders(folders["circles"], mixed, extractor=STAND_IN)
    assert result.folders[1].sizes == {"64x64": 6, "96x64": 4}
    assert result.resize == ColourStats.resize
    assert result.metric("FD[stand-in]").n == (12, 10)
    kid = result.metric("KID[stand-in]")  # subsets of 10 from 12 differ, so they spread
    assert kid.std is not None and kid.std > 0 and kid.method == "std over 100 subsets of 10"


def test_fd_is_left_out_with_a_reason_when_a_folder_has_too_few_images(folders, tmp_path) -> None:
    small = render(tmp_path / "small", "a red circle on a blue background", range(5))
    result = compare_folders(folders["circles"], small, extractor=STAND_IN)
    assert "FD[stand-in]" not in {m.name for m in result.metrics}
    (note,) = result.notes
    assert note.startswith("FD[stand-in] left out: it needs more images than the extractor's 6")
    assert "(A has 12, B has 5); use at least 7 per folder" in note
    assert result.metric("KID[stand-in]").n == (12, 5)


def test_only_inception_features_give_fid_and_an_inception_score(folders, monkeypatch) -> None:
    monkeypatch.setattr(features, "get_extractor", lambda name, **_: InceptionLike())
    result = compare_folders(folders["circles"], folders["squares"], extractor="inception")
    names = {m.name for m in result.metrics}
    assert {"FID", "KID[inception]", "IS A", "IS B"} <= names
    assert not any(name.startswith("FD[") for name in names)
    score = result.metric("IS A")
    assert 1.0 <= score.value <= 3.0 and score.std is not None and score.n == (12,)


def test_a_missing_folder_is_named(folders, tmp_path: Path) -> None:
    with pytest.raises(ImageFolderError, match=r"^folder B does not exist: .*nowhere$"):
        compare_folders(folders["circles"], tmp_path / "nowhere", extractor=STAND_IN)
    with pytest.raises(ImageFolderError, match=r"^folder A is a file, not a folder"):
        compare_folders(next(folders["circles"].iterdir()), folders["copy"], extractor=STAND_IN)


def test_too_few_images_say_what_each_metric_needs(folders, tmp_path: Path) -> None:
    few = render(tmp_path / "few", "a red circle", range(3))
    (few / "notes.txt").write_text("not an image")
    (few / "sub").mkdir()
    render(few / "sub", "a red circle", range(3, 9))  # subfolders are not read
    with pytest.raises(ImageFolderError) as caught:
        compare_folders(folders["circles"], few, extractor=STAND_IN)
    assert str(caught.value) == (
        f"folder B ({few}) has 3 images (.png .jpg .jpeg .webp, top level only); "
        "precision/recall need at least 4, KID and diversity 2, FD[stand-in] more than the "
        "extractor's 6 dimensions (7); add images to the folder"
    )


def test_unreadable_files_are_named_and_counted(folders, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(compare, "BATCH_SIZE", 4)  # bad files in a later batch still count
    broken = render(tmp_path / "broken", "a red circle", range(8))
    for name in ("x1.png", "x2.jpg", "x3.webp", "x4.png"):
        (broken / name).write_bytes(b"not really an image")
    png = (broken / "000-64x64.png").read_bytes()
    (broken / "x0.png").write_bytes(png[: len(png) // 2])  # truncated
    with pytest.raises(ImageFolderError) as caught:
        compare_folders(folders["circles"], broken, extractor=STAND_IN)
    message = str(caught.value)
    assert message.startswith("5 files in folder B cannot be read: x0.png (is corrupt or truncated")
    assert "x1.png (is not an image Pillow can read), x2.jpg (is not an image" in message
    assert message.endswith(" and 2 more; remove or replace them")
    assert "\n" not in message


def test_an_unknown_extractor_is_refused_before_reading_images(folders) -> None:
    with pytest.raises(Exception, match="extractor='nope' is invalid: must be one of"):
        compare_folders(folders["circles"], folders["copy"], extractor="nope")
