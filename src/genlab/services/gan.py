"""GAN-only requests: latent walks (`genlab gan walk`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genlab.core.errors import InvalidRequest
from genlab.core.request import SEED_LIMIT, LoadOptions, check_text
from genlab.services.outputs import check_output_folder
from genlab.train.gan_watch import DIVERSITY_WARNING

__all__ = ["DIVERSITY_WARNING", "WalkResult", "check_walk", "walk"]

MAX_FRAMES = 600

FORMATS = ("webp", "gif")
FRAME_MS = 80  # 12.5 frames a second: smooth enough, and a 48-frame walk lasts ~4 s


@dataclass(frozen=True)
class WalkResult:
    frames: list[Path]
    animation: Path
    warnings: tuple[str, ...]


def check_walk(seed_from: int, seed_to: int, frames: int, truncation: float, fmt: str) -> None:
    for name, seed in (("from", seed_from), ("to", seed_to)):
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
            raise InvalidRequest(name, seed, f"must be a seed from 0 to {SEED_LIMIT - 1}")
    if isinstance(frames, bool) or not isinstance(frames, int) or not 2 <= frames <= MAX_FRAMES:
        raise InvalidRequest("frames", frames, f"must be an integer from 2 to {MAX_FRAMES}")
    if isinstance(truncation, bool) or not isinstance(truncation, int | float):
        raise InvalidRequest("truncation", truncation, "must be a number in (0, 1]")
    if not 0.0 < truncation <= 1.0:
        raise InvalidRequest("truncation", truncation, "must be a number in (0, 1]")
    if fmt not in FORMATS:
        raise InvalidRequest("format", fmt, f"must be one of: {', '.join(FORMATS)}")


def walk(
    prompt: str,
    out: Path,
    *,
    seed_from: int,
    seed_to: int,
    frames: int = 24,
    to_prompt: str | None = None,
    truncation: float = 1.0,
    model: str = "gan",
    fmt: str = "webp",
    device: str | None = None,
) -> WalkResult:
    """Write frame-000.png … and walk.webp (or .gif) into `out`."""
    from genlab.engines import engine_name_for, load_engine
    from genlab.engines.gan import walk as gan_walk

    check_text(prompt, "prompt")
    if to_prompt is not None:
        check_text(to_prompt, "to_prompt")
    check_walk(seed_from, seed_to, frames, truncation, fmt)
    if engine_name_for(model) != "gan":
        raise InvalidRequest("model", model, "latent walks need a GAN model (gan or a GAN folder)")
    check_output_folder(out)
    engine = load_engine(model, LoadOptions(device=device))
    images = gan_walk(
        engine, prompt, seed_from, seed_to, frames, to_prompt=to_prompt, psi=truncation
    )
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, image in enumerate(images):
        paths.append(out / f"frame-{i:03d}.png")
        image.save(paths[-1])
    animation = out / f"walk.{fmt}"
    extra = {"lossless": True} if fmt == "webp" else {}
    images[0].save(
        animation, save_all=True, append_images=images[1:], duration=FRAME_MS, loop=0, **extra
    )
    unknown = engine.unknown_words(f"{prompt} {to_prompt or ''}")
    warnings = (f"words the GAN never saw in training: {', '.join(unknown)}",) if unknown else ()
    return WalkResult(paths, animation, warnings)
