"""What models exist on this machine, found without loading or downloading any."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from genlab.core.engine import ModelInfo

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
