"""Load a diffusers pipeline from a resolved source, with one-line errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from genlab.core.errors import ModelLoadError
from genlab.core.request import LoadOptions
from genlab.engines.sources import ModelSource, hub_offline

log = logging.getLogger(__name__)


def load_pipeline(source: ModelSource, location: Path, options: LoadOptions, dtype: Any) -> Any:
    """The pipeline at `location` (a folder, or the checkpoint file of a "file" source).

    Every library failure becomes one ModelLoadError line: diffusers raises OSError,
    ValueError, KeyError, TypeError or RuntimeError depending on what is wrong.
    """
    import diffusers
    import transformers
    from diffusers.loaders.single_file_utils import SingleFileComponentError
    from safetensors import SafetensorError

    # genlab draws its own progress; the libraries' loading bars would interleave.
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()

    try:
        if source.kind == "file":
            pipe = diffusers.StableDiffusionPipeline.from_single_file(
                str(location),
                config=options.config,
                dtype=dtype,
                safety_checker=None,
                requires_safety_checker=False,
                local_files_only=hub_offline() or _is_folder(options.config),
            )
            log.info("%s: safety checker off (content filtering is left to the user)", source.name)
            return pipe
        kwargs: dict[str, Any] = {}
        if _has_safety_checker(location):
            # The filter blacks out images it flags; genlab leaves that to the user.
            kwargs.update(safety_checker=None, requires_safety_checker=False)
            log.info("%s: safety checker off (content filtering is left to the user)", source.name)
        return diffusers.DiffusionPipeline.from_pretrained(
            str(location), dtype=dtype, local_files_only=True, **kwargs
        )
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        RuntimeError,
        SafetensorError,
        SingleFileComponentError,  # a checkpoint without weights for some component
    ) as err:
        text = str(err).strip()
        first = text.splitlines()[0] if text else type(err).__name__
        hint = ""
        if source.kind == "file" and options.config is None:
            hint = " (a single file needs --config FOLDER with a matching pipeline layout)"
        raise ModelLoadError(f"cannot load {source.location}: {first}{hint}") from None


def _is_folder(path: str | None) -> bool:
    return path is not None and Path(path).expanduser().is_dir()


def _has_safety_checker(folder: Path) -> bool:
    index = json.loads((folder / "model_index.json").read_text())
    entry = index.get("safety_checker")
    return isinstance(entry, list) and entry[0] is not None
