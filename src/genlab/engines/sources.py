"""Where a diffusers model comes from, what it is called, and its A1111-style hash.

A model string is, in this order: an existing folder (a diffusers pipeline with
model_index.json), an existing file (a single checkpoint), or a Hugging Face hub id
(`owner/name`) looked up in the normal HF cache. Nothing here loads torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from genlab.core.errors import ModelLoadError
from genlab.core.request import LoadOptions

log = logging.getLogger(__name__)

SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ModelSource:
    kind: str  # "folder" | "file" | "hub"
    location: str  # a path, or the hub id
    name: str  # what A1111 calls "Model": file stem, folder name or hub id


def resolve_source(model: str, options: LoadOptions) -> ModelSource:
    """Classify `model` and check what can be checked before loading anything."""
    path = Path(model).expanduser()
    if path.is_dir():
        _check_pipeline_folder(path)
        return ModelSource("folder", str(path), path.name)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in PICKLE_SUFFIXES and not options.allow_pickle:
            raise ModelLoadError(
                f"{model} is a pickle, which can run code when loaded; "
                "pass --allow-pickle only if you trust it"
            )
        if suffix not in SAFE_SUFFIXES + PICKLE_SUFFIXES:
            raise ModelLoadError(
                f"{model} is not a checkpoint: expected .safetensors "
                f"(or {', '.join(PICKLE_SUFFIXES)} with --allow-pickle)"
            )
        return ModelSource("file", str(path), path.stem)
    if _HUB_ID.match(model) and not model.endswith(WEIGHT_SUFFIXES):
        return ModelSource("hub", model, model)
    raise ModelLoadError(
        f"model {model!r} not found: not a folder, a checkpoint file or a hub id (owner/name)"
    )


def _check_pipeline_folder(path: Path) -> None:
    index = path / "model_index.json"
    if not index.is_file():
        if (path / "config.json").is_file():
            raise ModelLoadError(
                f"{path} holds a single diffusers model (config.json), not a pipeline; "
                "point at the folder with model_index.json"
            )
        raise ModelLoadError(f"{path} is not a diffusers pipeline folder (no model_index.json)")
    try:
        data = json.loads(index.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"{index} is malformed: {err}") from None
    if not isinstance(data, dict) or "Pipeline" not in str(data.get("_class_name", "")):
        raise ModelLoadError(f"{index} does not describe a pipeline (no pipeline _class_name)")


def hub_snapshot(model_id: str) -> Path:
    """The cached snapshot folder of a hub model; offline-safe."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    try:
        return Path(snapshot_download(model_id, local_files_only=offline))
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE is set" if offline else "the hub could not be reached"
        raise ModelLoadError(
            f"model {model_id!r} is not a local folder or file, and as a hub id it is not in "
            f"the Hugging Face cache ({why}); check the path, or download it once online"
        ) from None
    except OSError as err:
        raise ModelLoadError(f"cannot fetch {model_id}: {_first_line(err)}") from None


# -- hashes ------------------------------------------------------------------------------


def short_hash(path: Path, length: int = 10) -> str:
    """A1111's short model hash: the start of the sha256 of the file (or, for a
    folder, of its weight files' names and hashes), cached by path, size and mtime."""
    path = path.resolve()
    if path.is_file():
        return _file_sha256(path)[:length]
    parts = []
    for file in sorted(p for p in path.rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file()):
        parts.append(f"{file.relative_to(path).as_posix()}:{_file_sha256(file)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:length]


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "genlab" / "hashes.json"


def _file_sha256(path: Path) -> str:
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    cache_path = _cache_file()
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, json.JSONDecodeError):
        cache = {}
    if key in cache:
        return cache[key]
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    cache[key] = digest.hexdigest()
    try:  # the cache is an optimisation: a read-only home must not break generation
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache))
        os.replace(tmp, cache_path)
    except OSError as err:
        log.debug("hash cache not written: %s", err)
    return cache[key]


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
