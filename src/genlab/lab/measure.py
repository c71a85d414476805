"""Measure a recorded sweep run: per value of each swept axis, how well the images follow
their prompts, how varied they are, and how far they are from a reference set.

For every cell of the run:
- adherence: the Shapes World detector looks at the image and `judge` says whether it
  shows what the prompt asks for. Cells whose prompt is no Shapes World prompt (the
  parser refuses it, or it names no object) are not judged; their cell metrics say why.
- features from the chosen extractor, and (with reference="procedural") the features of
  a procedural render of the same request (prompt, negative prompt, seed, size): the
  image Shapes World itself draws for it.

Then, for each axis the run sweeps and each of its values, the cells at that value:
- `adherence`: share judged correct, with a 95% Wilson interval over the judged images
  (each image is one draw given its prompt; prompt-to-prompt variation is not in it).
- `diversity`: mean pairwise feature distance among images whose requests differ only
  by seed, averaged over such sets: it falls towards 0 when a model collapses onto one
  image per prompt. Left out where no two images of a group differ only by seed.
- `fd`: Fréchet distance to the reference renders of the same cells, with a 95% paired
  bootstrap interval (`FD_RESAMPLES`; an image and its reference are drawn together). A
  resample repeats images, which raises FD, so the interval shows spread and can sit
  above the value.
  FD needs more images than the extractor has dimensions, so groups with fewer are
  left without `fd`; their `kid`, which has no such floor, is still there.
- `kid`: kernel distance to the same reference renders (no interval; see lab.compare).
`overall` holds the same metrics over every cell of the run.

Results are written back: each cell's metrics column gets `adherence` and
`reference_distance` ({extractor: feature distance to its reference render}), merged
with what other measurements put there; the whole `RunMetrics` goes into the store's
`run_metrics` table, one row per (run, extractor), read back by `load_run_metrics`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genlab.core.errors import GenlabError, InvalidRequest
from genlab.lab.measurements import GroupMetrics, MetricValue, RunMetrics
from genlab.lab.records import CellRecord, RunStoreError, open_store
from genlab.lab.sweep import AXIS_NAMES

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

    from genlab.metrics.features import FeatureExtractor

log = logging.getLogger(__name__)

REFERENCES = ("procedural", "none")
PROCEDURAL_REFERENCE = "procedural renders of the same requests (prompt, negative, seed, size)"
FD_RESAMPLES = 20  # per group: enough for a rough interval, cheap even at 2048-D
BATCH_SIZE = 32
WILSON_Z = 1.959964  # two-sided 95%

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def measure_run(
    database: Path,
    run_id: int,
    *,
    extractor: str = "shapes",
    weights: Path | None = None,
    reference: str = "procedural",
    on_progress: Progress | None = None,
    device: str = "cpu",
    seed: int = 0,
) -> RunMetrics:
    """Measure run `run_id` of the store at `database` (a file, or a folder holding
    genlab-runs.sqlite), store the result there and return it."""
    from genlab.metrics import features

    # 1. Check inputs
    if reference not in REFERENCES:
        raise InvalidRequest("reference", reference, f"must be one of {', '.join(REFERENCES)}")
    with open_store(database, create=False) as store:
        run = store.get_run(run_id)
        cells = store.cells(run_id)
    if not cells:
        raise RunStoreError(f"run {run_id} has no finished cells to measure yet")
    net = features.get_extractor(extractor, weights=weights, device=device)

    # 2. Judge and featurise every cell (and its reference render)
    seen = _Observations.of(cells, net, reference == "procedural", on_progress)
    skipped = sum(1 for c in seen.adherence if "skipped" in c)
    if skipped:
        log.warning(
            "adherence: %d of %d cells not judged (no Shapes World prompt)", skipped, len(cells)
        )

    # 3. Group by each swept axis' values, and all cells together
    groups = []
    for name in AXIS_NAMES:
        if name not in run.definition.get("axes", {}):
            continue
        title = _axis_title(run.definition["axes"][name])
        k = AXIS_NAMES.index(name)
        rows_at: dict[int, list[int]] = {}
        for row, cell in enumerate(cells):
            rows_at.setdefault(cell.position[k], []).append(row)
        for index, rows in sorted(rows_at.items()):
            metrics = seen.metrics(rows, net, seed)
            label = cells[rows[0]].labels[k]
            groups.append(GroupMetrics(name, title, index, label, len(rows), metrics))
    result = RunMetrics(
        run_id=run_id,
        extractor=net.name,
        reference=PROCEDURAL_REFERENCE if reference == "procedural" else None,
        groups=tuple(groups),
        overall=seen.metrics(list(range(len(cells))), net, seed),
    )

    # 4. Write per-cell results and the run's measurement into the store
    with open_store(database, create=False) as store:
        store.merge_metrics(run_id, seen.cell_metrics(net.name))
        store.save_run_metrics(run_id, net.name, result.to_dict())
    return result


def load_run_metrics(database: Path, run_id: int, extractor: str = "shapes") -> RunMetrics:
    """The measurement `measure_run` stored for this run and extractor."""
    with open_store(database, create=False) as store:
        store.get_run(run_id)
        stored = store.run_metrics(run_id, extractor)
        measured = store.measured_extractors(run_id)
    if stored is None:
        others = f"; measured with: {', '.join(measured)}" if measured else ""
        raise RunStoreError(
            f"run {run_id} has not been measured with {extractor!r}{others}; "
            f"measure it with `genlab eval --run {run_id} --extractor {extractor}`"
        )
    return RunMetrics.from_dict(stored[0])


# -- per cell -------------------------------------------------------------------------


@dataclass
class _Observations:
    """What was seen in each cell, row i for cells[i]."""

    cells: Sequence[CellRecord]
    adherence: list[dict[str, Any]]  # {"correct": bool, ...} or {"skipped": reason}
    feats: np.ndarray  # (N, D)
    reference: np.ndarray | None  # (N, D); NaN rows where the reference could not render

    @classmethod
    def of(
        cls,
        cells: Sequence[CellRecord],
        net: FeatureExtractor,
        with_reference: bool,
        on_progress: Progress | None,
    ) -> _Observations:
        import numpy as np

        from genlab.engines.cache import EngineCache

        engines = EngineCache()
        adherence: list[dict[str, Any]] = []
        feats, refs = [], []
        if on_progress is not None:
            on_progress("cells", 0, len(cells))
        for start in range(0, len(cells), BATCH_SIZE):
            batch = cells[start : start + BATCH_SIZE]
            images = [_open(cell) for cell in batch]
            adherence += [
                _judge(cell.request["prompt"], image) for cell, image in zip(batch, images)
            ]
            feats.append(net.features(images))
            if with_reference:
                refs.append(_reference_features(batch, net, engines))
            if on_progress is not None:
                on_progress("cells", start + len(batch), len(cells))
        return cls(
            cells=cells,
            adherence=adherence,
            feats=np.concatenate(feats).astype(np.float64),
            reference=np.concatenate(refs).astype(np.float64) if refs else None,
        )

    def cell_metrics(self, extractor: str) -> dict[int, dict[str, Any]]:
        import numpy as np

        changes = {}
        for row, cell in enumerate(self.cells):
            update: dict[str, Any] = {"adherence": self.adherence[row]}
            if self.reference is not None and np.all(np.isfinite(self.reference[row])):
                distance = float(np.linalg.norm(self.feats[row] - self.reference[row]))
                update["reference_distance"] = {
                    **((cell.metrics or {}).get("reference_distance") or {}),
                    extractor: distance,
                }
            changes[cell.index] = update
        return changes

    def metrics(self, rows: list[int], net: FeatureExtractor, seed: int) -> dict[str, MetricValue]:
        import numpy as np

        from genlab.lab.compare import fd_with_interval, kid

        found: dict[str, MetricValue] = {}
        judged = [self.adherence[r]["correct"] for r in rows if "correct" in self.adherence[r]]
        if judged:
            low, high = wilson_interval(sum(judged), len(judged))
            found["adherence"] = MetricValue(sum(judged) / len(judged), len(judged), low, high)
        diversity = self._diversity(rows)
        if diversity is not None:
            found["diversity"] = MetricValue(diversity[0], diversity[1], extractor=net.name)
        if self.reference is None:
            return found
        paired = [r for r in rows if np.all(np.isfinite(self.reference[r]))]
        a, b = self.feats[paired], self.reference[paired]  # (n, D) each
        if len(paired) > net.dim:
            value, low, high = fd_with_interval(a, b, FD_RESAMPLES, seed, paired=True)
            found["fd"] = MetricValue(value, len(paired), low, high, net.name)
        if len(paired) >= 2:
            found["kid"] = MetricValue(kid(a, b, seed)[0], len(paired), extractor=net.name)
        return found

    def _diversity(self, rows: list[int]) -> tuple[float, int] | None:
        """Mean pairwise distance within each set of requests equal but for the seed,
        averaged over the sets; and how many images those sets hold."""
        from genlab.metrics.diversity import mean_pairwise_distance

        sets: dict[str, list[int]] = {}
        for r in rows:
            request = {k: v for k, v in self.cells[r].request.items() if k != "seed"}
            sets.setdefault(repr(sorted(request.items())), []).append(r)
        usable = [members for members in sets.values() if len(members) >= 2]
        if not usable:
            return None
        values = [mean_pairwise_distance(self.feats[members]) for members in usable]
        return sum(values) / len(values), sum(len(m) for m in usable)


def _open(cell: CellRecord) -> Image.Image:
    from genlab.core.images import open_image
    from genlab.lab.runner import file_sha256

    path = cell.image_path
    if not path.is_file():
        raise RunStoreError(
            f"cell {cell.index}'s image is missing: {path}; re-run the sweep to make it again"
        )
    if file_sha256(path) != cell.image_sha256:
        raise RunStoreError(
            f"cell {cell.index}'s image changed since the run recorded it: {path}; "
            "re-run the sweep with --fresh to measure what the model makes now"
        )
    return open_image(path, what=f"cell {cell.index}'s image", keep_alpha=False)


def _judge(prompt: str, image: Image.Image) -> dict[str, Any]:
    from genlab.metrics.adherence import judge
    from genlab.world.detect import detect
    from genlab.world.parse import parse_prompt

    try:
        parsed = parse_prompt(prompt)
    except InvalidRequest as err:
        return {"skipped": f"not a Shapes World prompt: {err.allowed}"}
    if not parsed.scene_spec.objects:
        return {"skipped": "the prompt names no Shapes World object"}
    found = detect(image)
    judged: dict[str, Any] = {
        "correct": judge(prompt, found),
        "found": [" ".join(w for w in (o.size, o.colour, o.shape) if w) for o in found.objects],
        "background": found.background,
        "lighting": found.lighting,
    }
    if parsed.unknown_words:  # judged on the words the detector knows; say which were not
        judged["ignored_words"] = parsed.unknown_words
    return judged


def _reference_features(batch: Sequence[CellRecord], net: FeatureExtractor, engines) -> np.ndarray:
    """Features of the procedural render of each cell's request; NaN rows for requests
    the procedural engine refuses (their cells are left out of fd and kid)."""
    import numpy as np

    from genlab.engines.cache import generate, new_request

    images, rows = [], []
    for row, cell in enumerate(batch):
        req = cell.request
        try:
            request = new_request(
                model="procedural",
                prompt=req["prompt"],
                negative_prompt=req.get("negative_prompt", ""),
                seed=req["seed"],
                width=req.get("width"),
                height=req.get("height"),
            )
            images.append(generate(request, engines=engines).images[0])
            rows.append(row)
        except GenlabError as err:
            log.warning("cell %d: no reference render: %s", cell.index, err)
    out = np.full((len(batch), net.dim), np.nan)
    if images:
        out[rows] = net.features(images)
    return out


def _axis_title(axis: dict[str, Any]) -> str:
    from genlab.lab.axes import Axis

    return Axis.from_dict(axis).title


def wilson_interval(successes: int, trials: int, z: float = WILSON_Z) -> tuple[float, float]:
    """Wilson score interval for a proportion: unlike the normal approximation it stays
    inside [0, 1] and does not collapse to a point at 0 or n successes."""
    if trials < 1:
        raise InvalidRequest("trials", trials, "must be at least 1")
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # At 0 or n successes the bound is exactly 0 or 1; say so rather than 1 - 1e-16.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high
