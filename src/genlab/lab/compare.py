"""Compare two image folders with feature statistics (`genlab eval DIR_A DIR_B`).

DIR_A is the reference set ("real" images) and DIR_B the set being measured. FD and
KID are symmetric; precision is the share of B inside A's feature manifold (are B's
images like A's?) and recall the share of A inside B's (does B cover A's variety?).

- Only a folder's top level is read, files ending .png .jpg .jpeg .webp in any case;
  subfolders are ignored. A sweep's folder keeps its contact sheets (`sheet*.png`)
  beside its images, so they count as images there: move them out, or measure the
  run with `genlab eval --run`, which reads only the cells.
- Images may have any sizes: the extractor brings each to its network's input its own
  way (its `resize` rule), and the sizes found are reported beside that rule.
- Every number carries the extractor's name. Only FD on Inception features is FID;
  FD on `shapes` features is `FD[shapes]` and is not comparable with published FID.
- Intervals: FD gets a 95% percentile bootstrap over images (each folder resampled on
  its own, `FD_RESAMPLES` times, so it stays quick even at 2048 dimensions). A
  resample repeats images, which biases FD upwards, so the interval describes spread
  and may lie above the point value. KID and IS report their spread over subsets /
  splits instead (the usual mean ± std). Precision/recall and diversity get no
  interval: repeated images sit at distance 0 from each other, which shrinks k-NN
  radii and pairwise distances, so a bootstrap of them measures the resampling.
- Images are decoded and featurised a batch at a time, so memory holds one batch of
  images and the (N, D) features, not every image at once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genlab.core.errors import GenlabError, UnsupportedImage
from genlab.core.imageio import IMAGE_SUFFIXES

if TYPE_CHECKING:
    import numpy as np

    from genlab.metrics.features import FeatureExtractor

FD_RESAMPLES = 50
FD_INTERVAL = "bootstrap over images (repeats raise FD, so it can sit above the value)"
KID_SUBSETS = 100  # torch-fidelity's defaults
KID_SUBSET_SIZE = 1000
PR_K = 3  # the improved precision/recall paper's k
# A k-th nearest neighbour other than the image itself needs k + 1 images; KID and
# diversity need 2, so this is the floor below which nothing can be computed.
MIN_IMAGES = PR_K + 1
IS_SPLITS = 10
BATCH_SIZE = 64
SHOWN_BAD_FILES = 3  # an error names this many unreadable files, then counts the rest

Progress = Callable[[str, int, int], None]  # (stage, done, total)


class ImageFolderError(GenlabError):
    """A folder that is missing, too small or holds unreadable images."""


@dataclass(frozen=True)
class FolderSummary:
    path: str
    images: int
    sizes: dict[str, int]  # "WxH" -> how many images have it


@dataclass(frozen=True)
class Measurement:
    name: str  # as shown: "FD[shapes]", "FID", "KID[shapes]", "diversity[shapes] A", …
    value: float
    n: tuple[int, ...]  # images it came from: (A, B) for a comparison, (N,) for one folder
    low: float | None = None  # 95% interval, where the metric has one
    high: float | None = None
    std: float | None = None  # spread over KID subsets or IS splits (not an interval)
    method: str = ""  # how the interval or spread was obtained
    extractor: str = ""


@dataclass(frozen=True)
class FolderComparison:
    extractor: str
    dim: int
    resize: str  # the extractor's rule for bringing any image size to its input
    folders: tuple[FolderSummary, FolderSummary]  # A (reference), B (measured)
    metrics: tuple[Measurement, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)  # metrics left out, and why

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["folders"] = {"a": data["folders"][0], "b": data["folders"][1]}
        return data

    def metric(self, name: str) -> Measurement:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(f"no metric {name!r}; measured: {', '.join(m.name for m in self.metrics)}")


def compare_folders(
    dir_a: Path,
    dir_b: Path,
    *,
    extractor: str = "shapes",
    weights: Path | None = None,
    device: str = "cpu",
    fd_resamples: int = FD_RESAMPLES,
    seed: int = 0,
    on_progress: Progress | None = None,
) -> FolderComparison:
    """FD, KID, precision/recall, diversity (and IS with Inception) of B against A;
    `fd_resamples` below 2 leaves FD without an interval."""
    from genlab.metrics import features

    files = {side: image_files(path, side) for side, path in (("A", dir_a), ("B", dir_b))}
    net = features.get_extractor(extractor, weights=weights, device=device)
    for side, found in files.items():
        check_count(len(found), side, dir_a if side == "A" else dir_b, net)
    loaded = {
        side: featurise(found, net, side, on_progress, want_logits=net.name == "inception")
        for side, found in files.items()
    }
    metrics, notes = _statistics(loaded["A"], loaded["B"], net, fd_resamples, seed)
    return FolderComparison(
        extractor=net.name,
        dim=net.dim,
        resize=net.resize,
        folders=(
            FolderSummary(str(dir_a), len(files["A"]), loaded["A"].sizes),
            FolderSummary(str(dir_b), len(files["B"]), loaded["B"].sizes),
        ),
        metrics=tuple(metrics),
        notes=tuple(notes),
    )


# -- finding and reading images ----------------------------------------------------------


def image_files(folder: Path, side: str) -> list[Path]:
    """The images at the top level of `folder`, sorted by name."""
    folder = Path(folder)
    if not folder.exists():
        raise ImageFolderError(f"folder {side} does not exist: {folder}")
    if not folder.is_dir():
        raise ImageFolderError(f"folder {side} is a file, not a folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def check_count(count: int, side: str, folder: Path, net: FeatureExtractor) -> None:
    """Refuse a folder too small for any metric; the message lists each one's needs."""
    if count >= MIN_IMAGES:
        return
    raise ImageFolderError(
        f"folder {side} ({folder}) has {count} image{'s' * (count != 1)} "
        f"({' '.join(IMAGE_SUFFIXES)}, top level only); precision/recall need at least "
        f"{MIN_IMAGES}, KID and diversity 2, {fd_name(net.name)} more than the extractor's "
        f"{net.dim} dimensions ({net.dim + 1}); add images to the folder"
    )


@dataclass(frozen=True)
class Featurised:
    feats: np.ndarray  # (N, D)
    sizes: dict[str, int]
    logits: np.ndarray | None  # (N, classes), Inception only


def featurise(
    files: Sequence[Path],
    net: FeatureExtractor,
    side: str,
    on_progress: Progress | None = None,
    *,
    want_logits: bool = False,
) -> Featurised:
    """Decode and featurise `files` a batch at a time. After the first unreadable file
    the rest are only checked, so the error can name and count every bad one."""
    import numpy as np

    from genlab.core.images import open_image

    # The Inception extractor gives features and logits from one pass of the network.
    both_of = getattr(net, "features_and_logits", None) if want_logits else None
    chunks, logit_chunks, sizes = [], [], Counter()
    bad: list[tuple[Path, str]] = []
    if on_progress is not None:
        on_progress(f"folder {side}", 0, len(files))
    for start in range(0, len(files), BATCH_SIZE):
        batch = []
        for path in files[start : start + BATCH_SIZE]:
            try:
                image = open_image(path, keep_alpha=False)
            except UnsupportedImage as err:
                bad.append((path, _reason(err, path)))
                continue
            sizes[f"{image.width}x{image.height}"] += 1
            batch.append(image)
        if not bad and both_of is not None:
            feats, logits = both_of(batch)
            chunks.append(feats)
            logit_chunks.append(logits)
        elif not bad:
            chunks.append(net.features(batch))
        for image in batch:
            image.close()
        if on_progress is not None:
            on_progress(f"folder {side}", min(start + BATCH_SIZE, len(files)), len(files))
    if bad:
        shown = ", ".join(f"{p.name} ({why})" for p, why in bad[:SHOWN_BAD_FILES])
        more = f" and {len(bad) - SHOWN_BAD_FILES} more" if len(bad) > SHOWN_BAD_FILES else ""
        raise ImageFolderError(
            f"{len(bad)} file{'s' * (len(bad) != 1)} in folder {side} cannot be read: "
            f"{shown}{more}; remove or replace them"
        )
    feats = np.concatenate(chunks).astype(np.float64)  # (N, D)
    logits = np.concatenate(logit_chunks) if logit_chunks else None
    return Featurised(feats, dict(sorted(sizes.items())), logits)


def _reason(err: UnsupportedImage, path: Path) -> str:
    """open_image's message without the path it starts with: the caller names the file."""
    return str(err).replace(f"image {path} ", "", 1)


# -- statistics -------------------------------------------------------------------------


def fd_name(extractor: str) -> str:
    """FD on Inception features is FID; on any other extractor it keeps the name."""
    return "FID" if extractor == "inception" else f"FD[{extractor}]"


def fd_with_interval(
    a: np.ndarray, b: np.ndarray, resamples: int, seed: int, *, paired: bool = False
) -> tuple[float, float | None, float | None]:
    """FD and its bootstrap interval (None, None when resamples < 2). `paired` rows
    (row i of a and of b belong together, e.g. an image and its reference render) are
    resampled together; otherwise each set on its own."""
    import numpy as np

    from genlab.metrics.bootstrap import bootstrap_ci
    from genlab.metrics.frechet import frechet_distance

    value = frechet_distance(a, b)
    if resamples < 2:
        return value, None, None
    if paired:
        dim = a.shape[1]
        both = np.hstack([a, b])  # (N, 2D): one row per pair, so a draw keeps pairs whole
        low, high = bootstrap_ci(
            lambda rows: frechet_distance(rows[:, :dim], rows[:, dim:]),
            both,
            n=resamples,
            seed=seed,
        )
    else:
        low, high = bootstrap_ci(frechet_distance, a, b, n=resamples, seed=seed)
    return value, low, high


def kid(a: np.ndarray, b: np.ndarray, seed: int) -> tuple[float, float | None, str]:
    """KID mean and std over subsets (None when there is one subset), and how the
    subsets were drawn."""
    from genlab.metrics.kid import kernel_distance

    size = min(KID_SUBSET_SIZE, len(a), len(b))
    if size == len(a) == len(b):
        # Every subset would be the whole of both sets: one is the answer, with no spread.
        mean, _ = kernel_distance(a, b, subsets=1, subset_size=size, seed=seed)
        return mean, None, f"whole sets ({size} images each, under the subset size)"
    mean, std = kernel_distance(a, b, subsets=KID_SUBSETS, subset_size=size, seed=seed)
    return mean, std, f"std over {KID_SUBSETS} subsets of {size}"


def _statistics(
    a: Featurised, b: Featurised, net: FeatureExtractor, resamples: int, seed: int
) -> tuple[list[Measurement], list[str]]:
    import numpy as np

    from genlab.metrics.diversity import mean_pairwise_distance
    from genlab.metrics.inception_score import inception_score
    from genlab.metrics.precision_recall import precision_recall

    name, n_a, n_b = net.name, len(a.feats), len(b.feats)
    both = (n_a, n_b)
    metrics: list[Measurement] = []
    notes: list[str] = []
    if min(both) > net.dim:
        value, low, high = fd_with_interval(a.feats, b.feats, resamples, seed)
        method = f"{FD_INTERVAL}, {resamples} resamples" if low is not None else ""
        metrics.append(Measurement(fd_name(name), value, both, low, high, None, method, name))
    else:
        notes.append(
            f"{fd_name(name)} left out: it needs more images than the extractor's {net.dim} "
            f"dimensions in each folder (A has {n_a}, B has {n_b}); use at least "
            f"{net.dim + 1} per folder, or read KID, which has no such floor"
        )
    mean, std, method = kid(a.feats, b.feats, seed)
    metrics.append(Measurement(f"KID[{name}]", mean, both, std=std, method=method, extractor=name))
    pr = precision_recall(a.feats, b.feats, k=PR_K)
    method = f"k = {pr.k} nearest neighbours"
    metrics.append(
        Measurement(f"precision[{name}]", pr.precision, both, method=method, extractor=name)
    )
    metrics.append(Measurement(f"recall[{name}]", pr.recall, both, method=method, extractor=name))
    for side, feats in (("A", a.feats), ("B", b.feats)):
        value = mean_pairwise_distance(feats)
        method = "mean pairwise L2 distance"
        metrics.append(
            Measurement(
                f"diversity[{name}] {side}", value, (len(feats),), method=method, extractor=name
            )
        )
    if name == "inception":
        for side, logits in (("A", a.logits), ("B", b.logits)):
            if logits is None:
                notes.append(f"IS {side} left out: this Inception extractor gives no class logits")
                continue
            # Splits are contiguous; files sorted by name often group one prompt's images.
            shuffled = logits[np.random.default_rng(seed).permutation(len(logits))]
            splits = min(IS_SPLITS, len(logits))
            mean, std = inception_score(shuffled, splits=splits)
            metrics.append(
                Measurement(
                    f"IS {side}",
                    mean,
                    (len(logits),),
                    std=std,
                    method=f"std over {splits} splits",
                    extractor=name,
                )
            )
    return metrics, notes
