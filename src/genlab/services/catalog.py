"""What models exist on this machine, found without loading or downloading any."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from genlab.core.engine import ModelInfo
from genlab.core.request import LoadOptions

log = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt", ".pt")


def model_folders() -> list[Path]:
    """Folders searched for checkpoints: $GENLAB_MODELS (os.pathsep list), ./models."""
    env = os.environ.get("GENLAB_MODELS")
    folders = [Path(p) for p in env.split(os.pathsep) if p] if env else []
    folders.append(Path("models"))
    return [f for f in folders if f.is_dir()]


def local_models() -> list[ModelInfo]:
    found = [
        ModelInfo(
            "builtin",
            "builtin",
            "built in",
            "genlab's own text-to-image diffusion model, trained on Shapes World (64 px, CPU)",
        ),
        ModelInfo(
            "gan",
            "gan",
            "built in",
            "genlab's text-conditional GAN, trained on Shapes World (64 px, one pass per image)",
        ),
        ModelInfo(
            "procedural",
            "procedural",
            "built in",
            "Shapes World: shapes, colours, relations, lighting, styles; exact, no learning",
        ),
    ]
    for folder in model_folders():
        for path in sorted(folder.iterdir()):
            if (path / "model_index.json").is_file():
                found.append(ModelInfo(str(path), "diffusers", "folder", _pipeline_class(path)))
            elif path.suffix in CHECKPOINT_SUFFIXES:
                kind = "checkpoint" if path.suffix == ".safetensors" else "pickle (--allow-pickle)"
                found.append(ModelInfo(str(path), "diffusers", "file", kind))
    found.extend(_hub_cache_pipelines())
    return found


def _pipeline_class(folder: Path) -> str:
    try:
        return json.loads((folder / "model_index.json").read_text()).get("_class_name", "")
    except (OSError, json.JSONDecodeError):
        return "unreadable model_index.json"


def _hub_cache_pipelines() -> list[ModelInfo]:
    """Diffusers pipelines already in the Hugging Face cache (usable offline)."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        cache = scan_cache_dir()
    except CacheNotFound:
        return []
    found = []
    for repo in sorted(cache.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for revision in repo.revisions:
            if any(f.file_name == "model_index.json" for f in revision.files):
                klass = _pipeline_class(revision.snapshot_path)
                found.append(ModelInfo(repo.repo_id, "diffusers", "hub cache", klass))
                break
    return found


# -- what a model needs, read from its files without loading it ----------------------


def engine_name_for(model: str) -> str:
    """The engine that runs `model` (procedural, builtin, diffusers, …)."""
    from genlab.engines import engine_name_for as name_for

    return name_for(model)


def model_aliases() -> dict[str, str]:
    from genlab.engines import MODEL_ALIASES

    return dict(MODEL_ALIASES)


def ignored_settings(model: str) -> tuple[str, ...]:
    """Request fields the model's engine does not use (the procedural renderer's)."""
    engine = engine_name_for(model)
    if engine == "gan":
        from genlab.engines.gan import UNUSED
    elif engine == "procedural":
        from genlab.engines.procedural import UNUSED
    else:
        return ()
    return (*sorted(UNUSED - {"loras"}), "init_image")


def model_samplers(model: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(samplers, schedule types) a flow-matching pipeline folder accepts; None when
    the model takes every sampler (or has no folder to read without loading it)."""
    folder = pipeline_folder(model)
    if folder is None:
        return None
    from genlab.engines.schedulers import FLOW_SAMPLERS, is_flow_model

    if is_flow_model(read_json(folder / "scheduler" / "scheduler_config.json")):
        return tuple(FLOW_SAMPLERS), ("Automatic",)
    return None


def native_side(model: str) -> int | None:
    """The side a model draws when a request leaves width and height out, where it can
    be read without loading the model: the shipped engines and diffusers folders."""
    if engine_name_for(model) == "procedural":
        from genlab.engines.procedural import DEFAULT_SIDE

        return DEFAULT_SIDE
    if engine_name_for(model) == "gan":
        from genlab.engines.gan import native_side

        return native_side(model)
    folder = pipeline_folder(model)
    if folder is None:
        return None
    unet = read_json(folder / "unet" / "config.json")
    vae = read_json(folder / "vae" / "config.json")
    sample, blocks = unet.get("sample_size"), vae.get("block_out_channels")
    if isinstance(sample, (list, tuple)) and sample:
        sample = sample[0]
    if isinstance(sample, bool) or not isinstance(sample, int) or not isinstance(blocks, list):
        return None
    # The VAE halves the image once per block after the first (vae_scale_factor).
    return sample * 2 ** (len(blocks) - 1)


def pipeline_folder(model: str) -> Path | None:
    """The diffusers folder a model runs from, when it is one (the built-in model, or
    a local pipeline folder); None for procedural, single files and hub ids."""
    engine = engine_name_for(model)
    if engine == "builtin":
        from genlab.engines.builtin import builtin_folder

        return builtin_folder()
    if engine == "diffusers" and (Path(model) / "model_index.json").is_file():
        return Path(model)
    return None


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# -- what a loaded model accepts, and the hashes the A1111 API lists ----------------


def loaded_samplers(
    model: str, options: LoadOptions
) -> tuple[str, str, list[tuple[str, list[str]]]]:
    """Load `model` and ask its engine: (the model as the engine names it, the engine's
    name, [(sampler, schedule types), …]); an empty list for a model that is no
    diffuser."""
    from genlab.engines import load_engine

    engine = load_engine(model, options)
    return engine.model, engine.name, list(engine.samplers())


def builtin_sha256() -> str:
    """The shipped model folder's hash as its engine computes it, without torch."""
    from importlib import resources

    from genlab.engines.sources import short_hash

    return short_hash(Path(str(resources.files("genlab") / "models" / "builtin")), length=64)


def gan_sha256() -> str:
    """The shipped GAN folder's hash as its engine computes it, without torch."""
    from importlib import resources

    from genlab.engines.sources import short_hash

    return short_hash(Path(str(resources.files("genlab") / "models" / "gan")), length=64)


def world_version() -> str:
    """The Shapes World version the procedural engine draws (its 'model hash')."""
    from genlab.world import WORLD_VERSION

    return WORLD_VERSION


def memory() -> dict[str, dict[str, Any]]:
    """RAM (system-wide) and CUDA memory in A1111's /memory shape; a part that cannot
    be read says why under "error", as A1111 does."""
    import sys

    try:
        page = os.sysconf("SC_PAGE_SIZE")
        total, free = os.sysconf("SC_PHYS_PAGES") * page, os.sysconf("SC_AVPHYS_PAGES") * page
        ram: dict[str, Any] = {"free": free, "used": total - free, "total": total}
    except (AttributeError, OSError, ValueError) as err:  # not every OS names these
        ram = {"error": str(err)}
    cuda: dict[str, Any] = {"error": "unavailable"}
    torch = sys.modules.get("torch")  # only if a model loaded it: never load torch for this
    if torch is not None and torch.cuda.is_available():
        free_b, total_b = torch.cuda.mem_get_info()
        cuda = {"system": {"free": free_b, "used": total_b - free_b, "total": total_b}}
    return {"ram": ram, "cuda": cuda}
