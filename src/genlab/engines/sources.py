"""Where a diffusers model comes from, what it is called, and its A1111-style hash.

A model string is, in this order: an existing folder (a diffusers pipeline with
model_index.json), an existing file (a single checkpoint), or a Hugging Face hub id
(`owner/name`) looked up in the normal HF cache. Nothing here loads torch, so
`genlab models` can describe sources cheaply.
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
# The files whose bytes *are* a folder model; configs and tokenizers are left out so
# that re-saving a config with other whitespace keeps the hash.
FOLDER_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_READ_BLOCK = 1 << 20  # 1 MiB: streaming reads keep multi-GB checkpoints out of memory


@dataclass(frozen=True)
class ModelSource:
    kind: str  # "folder" | "file" | "hub"
    location: str  # a path, or the hub id
    name: str  # what A1111 calls "Model": file stem, folder name or hub id


def resolve_source(model: str, options: LoadOptions | None = None) -> ModelSource:
    """Classify `model` and check what can be checked before loading anything."""
    options = options or LoadOptions()
    path = Path(model).expanduser()
    if path.is_dir():
        check_pipeline_folder(path)
        return ModelSource("folder", str(path), path.name)
    if path.is_file():
        _check_checkpoint_file(path, options)
        return ModelSource("file", str(path), path.stem)
    if _HUB_ID.match(model) and not model.lower().endswith(SAFE_SUFFIXES + PICKLE_SUFFIXES):
        return ModelSource("hub", model, model)
    raise ModelLoadError(
        f"model {model!r} not found: not a folder, a checkpoint file or a hub id (owner/name)"
    )


def check_pipeline_folder(path: Path) -> dict:
    """The parsed model_index.json of a pipeline folder, or a one-line ModelLoadError."""
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
        raise ModelLoadError(f"{index} is malformed: {_first_line(err)}") from None
    if not isinstance(data, dict) or "Pipeline" not in str(data.get("_class_name", "")):
        raise ModelLoadError(f"{index} does not describe a pipeline (no pipeline _class_name)")
    return data


def _check_checkpoint_file(path: Path, options: LoadOptions) -> None:
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES and not options.allow_pickle:
        raise ModelLoadError(
            f"{path} is a pickle, which can run code when loaded; "
            "pass --allow-pickle only if you trust it"
        )
    if suffix not in SAFE_SUFFIXES + PICKLE_SUFFIXES:
        raise ModelLoadError(
            f"{path} is not a checkpoint: expected .safetensors "
            f"(or {', '.join(PICKLE_SUFFIXES)} with --allow-pickle)"
        )
    if suffix in SAFE_SUFFIXES:
        _check_safetensors_header(path)
    if options.config is None and hub_offline():
        # Without network, diffusers cannot fetch the pipeline layout a bare
        # checkpoint lacks; say so now rather than after a long failed lookup.
        raise ModelLoadError(
            f"{path} is a single checkpoint file; offline it needs its pipeline layout: "
            "pass --config FOLDER (a diffusers pipeline folder of the same model family)"
        )


def _check_safetensors_header(path: Path) -> None:
    """A .safetensors file starts with an 8-byte little-endian length and a JSON header;
    checking it here turns a truncated download or a renamed file into one clear line."""
    with path.open("rb") as stream:
        head = stream.read(8)
        size = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 2 <= size <= min(path.stat().st_size - 8, 100 * 2**20):
            raise ModelLoadError(f"{path} is not a valid .safetensors file (bad header)")
        try:
            header = json.loads(stream.read(size))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ModelLoadError(f"{path} is not a valid .safetensors file (bad header)") from None
    if not isinstance(header, dict) or not any(key != "__metadata__" for key in header):
        raise ModelLoadError(f"{path} holds no tensors, so it is not a checkpoint")


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_snapshot(model_id: str) -> Path:
    """The local snapshot folder of a hub model, through the normal HF cache.

    Offline (HF_HUB_OFFLINE) only the cache is consulted; online, missing files are
    downloaded as `from_pretrained` would.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    offline = hub_offline()
    try:
        return Path(snapshot_download(model_id, local_files_only=offline))
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE is set" if offline else "the hub could not be reached"
        raise ModelLoadError(
            f"model {model_id!r} is not a local folder or file, and as a hub id it is not in "
            f"the Hugging Face cache ({why}); check the path, or download it once online"
        ) from None
    except (OSError, ValueError) as err:  # repository not found, gated, bad revision
        raise ModelLoadError(f"cannot fetch {model_id}: {_first_line(err)}") from None


def describe_source(model: str) -> str:
    """One line for `genlab models`: what kind of source `model` is, without loading it."""
    path = Path(model).expanduser()
    if path.is_dir():
        try:
            index = check_pipeline_folder(path)
        except ModelLoadError as err:
            return f"not usable: {err}"
        components = sorted(
            k for k, v in index.items() if not k.startswith("_") and isinstance(v, list) and v[-1]
        )
        return f"diffusers folder, {index['_class_name']} ({', '.join(components)})"
    if path.is_file():
        size = f"{path.stat().st_size / 2**30:.2f} GiB"
        if path.suffix.lower() in SAFE_SUFFIXES:
            return f"single checkpoint file, safetensors, {size}"
        if path.suffix.lower() in PICKLE_SUFFIXES:
            return f"single checkpoint file, pickle (needs --allow-pickle), {size}"
        return f"not usable: {path.suffix or 'no extension'} is not a checkpoint format"
    if _HUB_ID.match(model):
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, "model_index.json")
        state = "in the local cache" if isinstance(cached, str) else "not in the local cache"
        return f"hub id, {state}"
    return "not found: not a folder, a checkpoint file or a hub id (owner/name)"


# -- hashes ------------------------------------------------------------------------------


def short_hash(path: Path, length: int = 10) -> str:
    """A1111's short model hash: the first `length` hex digits of a sha256.

    For a file, the sha256 of its bytes (what A1111 shows as "Model hash"). For a
    folder, the sha256 of the sorted "relative/path:file-sha256" lines of its weight
    files, so the same weights give the same hash wherever the folder lives.
    """
    path = path.resolve()
    if path.is_file():
        return file_sha256(path)[:length]
    weights = sorted(
        p for p in path.rglob("*") if p.suffix.lower() in FOLDER_WEIGHT_SUFFIXES and p.is_file()
    )
    lines = [f"{file.relative_to(path).as_posix()}:{file_sha256(file)}" for file in weights]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:length]


def hash_cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "genlab" / "hashes.json"


def file_sha256(path: Path, *, tensors_only: bool = False) -> str:
    """The sha256 of a file, cached by absolute path, size and mtime: a multi-GB
    checkpoint is read once, and a changed file (new size or mtime) is read again.

    `tensors_only` hashes a .safetensors file without its JSON header, as A1111 (and
    kohya's additional-networks before it) hash LoRAs: editing the metadata of a
    LoRA keeps its hash.
    """
    path = path.resolve()
    stat = path.stat()
    kind = "tensors|" if tensors_only else ""
    key = f"{kind}{path}|{stat.st_size}|{stat.st_mtime_ns}"
    cache_path = hash_cache_file()
    cache = _read_cache(cache_path)
    if isinstance(cache.get(key), str):
        return cache[key]
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        if tensors_only:
            stream.seek(8 + int.from_bytes(stream.read(8), "little"))
        for block in iter(lambda: stream.read(_READ_BLOCK), b""):
            digest.update(block)
    # Re-read just before writing so that entries another process added meanwhile stay.
    cache = _read_cache(cache_path)
    cache[key] = digest.hexdigest()
    try:  # the cache is an optimisation: a read-only home must not break generation
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_name(f".{cache_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=0, sort_keys=True))
        os.replace(tmp, cache_path)
    except OSError as err:
        log.debug("hash cache not written: %s", err)
    return cache[key]


def _read_cache(cache_path: Path) -> dict:
    try:
        cache = json.loads(cache_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return cache if isinstance(cache, dict) else {}


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
