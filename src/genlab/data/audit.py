"""Audit an image folder: what it shows, how skewed it is, what repeats, what is odd.

One pass reads the rows (genlab.data.folder), takes each image's attributes from its
scene graph, else its caption, and leaves the rest to the `shapes` encoder; a second
pass over the pixels hashes every image and, when features are on, embeds it with the
encoder (whose heads also predict the attributes of unlabelled images) for outliers.
Every row or image that cannot be used is listed in `problems` with the reason.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genlab.core.errors import InvalidRequest, UnsupportedImage
from genlab.core.images import open_image
from genlab.data.attributes import (
    OBJECT_ATTRIBUTES,
    SCENE_ATTRIBUTES,
    VALUES,
    Attributes,
    UnreadableCaption,
    attribute_names,
    distribution,
    from_caption,
    from_prediction,
    from_scene,
    support,
)
from genlab.data.duplicates import DEFAULT_DISTANCE, groups, phash, same_colours, thumbnail
from genlab.data.folder import Folder, Record, read_folder
from genlab.data.imbalance import JEFFREYS, imbalance

log = logging.getLogger(__name__)
BATCH = 128  # images read and embedded at once: bounded memory on a 50,000-image folder
WORKERS = min(4, os.cpu_count() or 1)
Progress = Callable[[int, int], None]


@dataclass
class AuditResult:
    folder: Path
    images: int
    problems: list[str]
    sources: dict[str, int]
    attributes: dict[str, dict[str, Any]]
    duplicates: list[list[str]] = field(default_factory=list)
    outliers: list[dict[str, Any]] = field(default_factory=list)
    projection: dict[str, Any] | None = None  # PCA map of the features, when embedded
    reference: str | None = None
    names: list[str] = field(default_factory=list)  # the audited images, in order

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "images": self.images,
            "reference": self.reference,
            "target": "reference folder (Jeffreys-smoothed)" if self.reference else "uniform",
            "sources": self.sources,
            "problems": self.problems,
            "attributes": self.attributes,
            "duplicates": self.duplicates,
            "outliers": self.outliers,
            "projection": self.projection,
        }


def folder_attributes(
    folder: Folder, problems: list[str]
) -> tuple[list[Record], list[Attributes | None]]:
    """Each record's attributes from its row (None: to be predicted from pixels)."""
    kept, found = [], []
    for record in folder.records:
        try:
            found.append(_row_attributes(record))
        except (InvalidRequest, UnreadableCaption) as err:
            problems.append(f"{record.name}: {err}")
            continue
        kept.append(record)
    return kept, found


def _row_attributes(record: Record) -> Attributes | None:
    if record.scene is not None:
        item = from_scene(record.scene)
    elif record.caption is not None:
        item = from_caption(record.caption)
    elif record.labels:
        return _from_labels(record.labels)
    else:
        return None
    return Attributes(item.source, item.objects, item.scene, dict(record.labels))


def _from_labels(labels: dict[str, str]) -> Attributes:
    """Label columns named after a Shapes World attribute ("shape": "circle") describe
    the image's one object and its setting; values outside the vocabulary are refused."""
    for name, value in labels.items():
        if name in VALUES and value not in VALUES[name]:
            raise InvalidRequest(name, value, f"must be one of {', '.join(VALUES[name])}")
    obj = {name: labels.get(name) for name in OBJECT_ATTRIBUTES}
    scene = {name: labels.get(name) for name in SCENE_ATTRIBUTES if name != "count"}
    objects = (obj,) if any(obj.values()) else ()
    return Attributes("labels", objects, {k: v for k, v in scene.items() if v}, dict(labels))


def audit(
    root: Path,
    *,
    reference: Path | None = None,
    features: bool = True,
    distance: int = DEFAULT_DISTANCE,
    device: str = "cpu",
    on_image: Progress | None = None,
) -> AuditResult:
    """Audit `root`; imbalance is measured against `reference`'s distribution when
    given, else against uniform over every value an attribute can take."""
    folder = read_folder(root)
    problems = list(folder.problems)
    records, found = folder_attributes(folder, problems)
    encoder = _encoder(device) if features or any(a is None for a in found) else None
    scan = _scan(records, found, encoder, on_image, problems)
    items = [a for a in scan.attributes if a is not None]
    target = _reference_counts(reference, device) if reference is not None else None
    result = AuditResult(
        folder=Path(root),
        images=len(scan.names),
        problems=problems,
        sources=dict(Counter(a.source for a in items)),
        attributes=_figures(items, target),
        reference=str(reference) if reference is not None else None,
        names=scan.names,
    )
    thumbs = scan.thumbnails
    found_groups = groups(scan.hashes, distance, lambda i, j: same_colours(thumbs[i], thumbs[j]))
    result.duplicates = [[scan.names[i] for i in g] for g in found_groups]
    if scan.features is not None and features:
        from genlab.data.outliers import knn_outliers

        found_outliers = knn_outliers(scan.features)
        result.outliers = [
            {"file_name": scan.names[i], "z": round(float(found_outliers.z[i]), 2)}
            for i in found_outliers.indices
        ]
        from genlab.data.embeddings import projection

        shapes = [a.objects[0]["shape"] if a and a.objects else None for a in scan.attributes]
        result.projection = projection(scan.names, scan.features, shapes)
    return result


def _figures(items: list[Attributes], target: dict[str, Counter] | None) -> dict[str, dict]:
    out = {}
    for name in attribute_names(items):
        counts = distribution(items, name)
        values = support(name, counts)
        if target is not None and name.startswith("label:"):
            values = sorted(set(values) | set(target.get(name, {})))
        if not counts:
            continue  # every caption left it open
        reference = None if target is None else target.get(name)
        if target is not None and reference is None:
            reference = Counter()  # the reference lacks this attribute: smoothed uniform
        figures = imbalance(counts, values, reference)
        out[name] = {
            "counts": {v: counts.get(v, 0) for v in values},
            "target": _target_shares(values, reference),
            "imbalance": figures.to_dict(),
        }
    return out


def _target_shares(values: list[str], reference: Counter | None) -> dict[str, float]:
    if reference is None:
        return {v: 1 / len(values) for v in values}
    total = sum(reference.get(v, 0) + JEFFREYS for v in values)
    return {v: (reference.get(v, 0) + JEFFREYS) / total for v in values}


def folder_items(
    root: Path, device: str = "cpu"
) -> tuple[list[Record], list[Attributes], list[str]]:
    """Every usable record of `root` with its attributes (predicted from pixels where
    the row says nothing), and the problems met on the way."""
    folder = read_folder(root)
    problems = list(folder.problems)
    records, found = folder_attributes(folder, problems)
    encoder = _encoder(device) if any(a is None for a in found) else None
    scan = _scan(records, found, encoder, None, problems, hashes=False)
    by_name = {r.name: r for r in records}
    kept = [(by_name[n], a) for n, a in zip(scan.names, scan.attributes) if a is not None]
    return [r for r, _ in kept], [a for _, a in kept], problems


def _reference_counts(reference: Path, device: str) -> dict[str, Counter]:
    _, items, problems = folder_items(reference, device)
    if not items:
        raise InvalidRequest("reference", str(reference), "has no image with readable attributes")
    if problems:
        log.warning("reference %s: %d rows or images skipped", reference, len(problems))
    return {name: distribution(items, name) for name in attribute_names(items)}


@dataclass
class _Scan:
    names: list[str]
    attributes: list[Attributes | None]
    hashes: list[int]
    thumbnails: list[Any]  # (8, 8, 3) colour layouts, beside the hashes
    features: Any  # (N, dim) float64, or None without the encoder


def _scan(records, found, encoder, on_image, problems, *, hashes: bool = True) -> _Scan:
    """Open every image once: hash it, embed it, predict what its row did not say."""
    import numpy as np

    names, attributes, hash_list, thumbs, chunks = [], [], [], [], []
    pending: list[tuple[Any, Attributes | None]] = []

    def flush() -> None:
        if not pending:
            return
        embedded, heads = _embed(encoder, [image for image, _ in pending])
        chunks.append(embedded)
        for j, (_, item) in enumerate(pending):
            if item is None:
                item = from_prediction({k: v[j] for k, v in heads.items()})
            attributes.append(item)
        pending.clear()

    from concurrent.futures import ThreadPoolExecutor

    todo = list(zip(records, found))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        for start in range(0, len(todo), BATCH):
            chunk = todo[start : start + BATCH]
            if on_image is not None:
                on_image(start, len(todo))
            # Decoding, resizing and the DCT release the GIL: threads overlap them.
            read = pool.map(lambda pair: _read(pair, hashes), chunk)
            for (record, item), opened in zip(chunk, read):
                if isinstance(opened, str):
                    problems.append(f"{record.name}: {opened}")
                    continue
                names.append(record.name)
                image, hashed, thumb = opened
                if hashes:
                    hash_list.append(hashed)
                    thumbs.append(thumb)
                if encoder is None:
                    attributes.append(item)
                    continue
                pending.append((image, item))
                if len(pending) == BATCH:
                    flush()
    flush()
    features = np.concatenate(chunks) if chunks else None
    return _Scan(names, attributes, hash_list, thumbs, features)


def _read(pair: tuple[Record, Attributes | None], hashes: bool):
    """(image or None, hash, thumbnail) for one record, or the reason it is unreadable.
    An image whose row says everything is not decoded when no hash is wanted."""
    record, item = pair
    if not hashes and item is not None:
        return None, None, None
    try:
        image = open_image(record.path, keep_alpha=False)
    except UnsupportedImage as err:
        return str(err)
    if not hashes:
        return image, None, None
    return image, phash(image), thumbnail(image)


def _encoder(device: str):
    from genlab.metrics.shapes_encoder import load

    return load(None, device)


def _embed(encoder, images) -> tuple[Any, dict[str, Any]]:
    """(B, dim) embeddings and each head's probabilities, (B, outputs) per head."""
    import torch

    from genlab.metrics.shapes_encoder_net import HEADS, prepare_image, to_tensor

    with torch.inference_mode():
        batch = to_tensor([prepare_image(im) for im in images]).to(encoder.device)
        z = encoder.model.embedding(batch)  # (B, dim)
        heads = {}
        for name, (kind, _) in HEADS.items():
            logits = encoder.model.heads[name](z)
            probs = logits.softmax(-1) if kind == "single" else logits.sigmoid()
            heads[name] = probs.cpu().numpy().tolist()
    return z.double().cpu().numpy(), heads
