"""`genlab generate` — text-to-image, image-to-image and inpainting."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from genlab.cli.errors import fail, user_errors
from genlab.cli.progress import progress_bar
from genlab.cli.terminal import shown
from genlab.core.request import INPAINT_FILLS, GenerationRequest, LoadOptions
from genlab.core.result import GenerationResult, StepEvent

if TYPE_CHECKING:
    from genlab.services.generation import SavedImages

console = Console(highlight=False)

Opt = typer.Option
FILLS = ", ".join(INPAINT_FILLS)
UPSCALERS = "Latent, Latent (bicubic), …, Lanczos, Nearest, bicubic, espcn"


@user_errors
def generate(
    prompt: Annotated[str | None, typer.Argument(help="What to draw (A1111 syntax).")] = None,
    negative_prompt: Annotated[str | None, Opt("--negative-prompt", "-n")] = None,
    width: Annotated[int | None, Opt("--width", "-W", help="Multiple of 8.")] = None,
    height: Annotated[int | None, Opt("--height", "-H", help="Multiple of 8.")] = None,
    steps: Annotated[int | None, Opt(help="Denoising steps.")] = None,
    guidance_scale: Annotated[float | None, Opt("--guidance-scale", "--cfg")] = None,
    sampler: Annotated[str | None, Opt(help="A1111 name, e.g. 'DPM++ 2M'.")] = None,
    schedule: Annotated[str | None, Opt(help="Karras, Exponential, SGM Uniform, …")] = None,
    seed: Annotated[int | None, Opt(help="-1 for random.")] = None,
    batch_size: Annotated[int | None, Opt("--batch-size", "-b")] = None,
    model: Annotated[
        str | None, Opt("--model", "-m", help="procedural, a hub id, folder or checkpoint.")
    ] = None,
    init_image: Annotated[Path | None, Opt(help="img2img source image.")] = None,
    strength: Annotated[float | None, Opt(help="Denoising strength for img2img.")] = None,
    mask: Annotated[Path | None, Opt(help="Inpainting mask (white = repaint).")] = None,
    mask_blur: Annotated[int | None, Opt(help="Blur the mask's edge (pixels).")] = None,
    mask_invert: Annotated[bool, Opt("--invert-mask", help="Repaint what is black.")] = False,
    inpaint_fill: Annotated[str | None, Opt(help=f"Masked start: {FILLS}.")] = None,
    only_masked: Annotated[bool, Opt("--inpaint-only-masked", help="Mask's box only.")] = False,
    inpaint_padding: Annotated[int | None, Opt(help="Pixels around that box.")] = None,
    lora: Annotated[list[str] | None, Opt(help="file.safetensors[:weight], repeatable.")] = None,
    clip_skip: Annotated[int | None, Opt(help="1: last CLIP layer, 2: the one before…")] = None,
    tiling: Annotated[bool, Opt(help="Seamless images that tile.")] = False,
    hires_scale: Annotated[float | None, Opt(help="Hires fix: upscale by (1-4).")] = None,
    hires_width: Annotated[int | None, Opt(help="Hires fix to this width.")] = None,
    hires_height: Annotated[int | None, Opt(help="Hires fix to this height.")] = None,
    hires_upscaler: Annotated[str | None, Opt(help=f"{UPSCALERS}.")] = None,
    hires_steps: Annotated[int | None, Opt(help="Second-pass steps (0: --steps).")] = None,
    hires_denoise: Annotated[float | None, Opt(help="Second-pass strength (0.7).")] = None,
    from_image: Annotated[Path | None, Opt("--from", help="Regenerate from an image.")] = None,
    out: Annotated[Path, Opt("--out", "-o", help="Output folder.")] = Path("outputs"),
    image_format: Annotated[str, Opt("--format", help="png, jpg or webp.")] = "png",
    grid: Annotated[bool, Opt(help="Also write a labelled grid for batches.")] = True,
    device: Annotated[str | None, Opt(help="cuda, mps or cpu (default: best).")] = None,
    dtype: Annotated[str | None, Opt(help="fp16, bf16 or fp32.")] = None,
    config: Annotated[str | None, Opt(help="Pipeline config for a single-file checkpoint.")] = None,
    allow_pickle: Annotated[bool, Opt(help="Allow loading pickled .ckpt/.pt files.")] = False,
    attention_slicing: Annotated[bool, Opt(help="Lower memory, a bit slower.")] = False,
    cpu_offload: Annotated[bool, Opt(help="Keep idle parts in RAM (accelerators).")] = False,
    truncation: Annotated[float | None, Opt(help="GAN models: psi in (0, 1].")] = None,
) -> None:
    """Generate images from a prompt and save them with A1111-compatible metadata."""
    from genlab.services.generation import save_result
    from genlab.services.outputs import check_output_folder

    check_output_folder(out)  # before any work: a bad --out is found in a second
    flags = dict(locals())  # every flag by its parameter name
    request, only = build_request(request_overrides(flags), from_image)
    load = LoadOptions(**{name: flags[name] for name in LOAD_FLAGS})
    result = run_with_progress(request, load)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {shown(warning)}")
    saved = save_result(result, out, image_format=image_format, grid=grid, only=only)
    print_saved(result, saved)


# Flags spelled as GenerationRequest's and LoadOptions' fields.
SAME_NAME = (
    *("prompt", "negative_prompt", "model", "width", "height", "batch_size", "seed"),
    *("steps", "guidance_scale", "sampler", "schedule", "strength", "clip_skip"),
    *("mask_blur", "inpaint_fill", "inpaint_padding"),
    *("hires_scale", "hires_width", "hires_height", "hires_upscaler", "hires_steps"),
    *("hires_denoise", "truncation"),
)
LOAD_FLAGS = ("device", "dtype", "config", "allow_pickle", "attention_slicing", "cpu_offload")


def request_overrides(flags: dict[str, Any]) -> dict[str, Any]:
    """The request's flags in GenerationRequest's field names. A flag not given, or a
    switch left off, is None, so that the value --from read stands."""
    fields = {name: flags[name] for name in SAME_NAME}
    fields.update(
        init_image=_text(flags["init_image"]),
        mask=_text(flags["mask"]),
        loras=tuple(flags["lora"]) if flags["lora"] else None,
        inpaint_only_masked=flags["only_masked"] or None,
        mask_invert=flags["mask_invert"] or None,
        tiling=flags["tiling"] or None,
    )
    return fields


def run_with_progress(request: GenerationRequest, load: LoadOptions) -> GenerationResult:
    """Load the model under a spinner, then generate under a progress bar."""
    from genlab.services.generation import EngineCache, generate

    engines = EngineCache()
    with console.status(f"loading {shown(request.model)}…"):
        engines.get(request.model, load)
    with progress_bar(console) as progress:
        task = progress.add_task("generating", total=None)

        def on_step(event: StepEvent) -> None:
            progress.update(task, completed=event.step, total=event.total)

        return generate(request, load=load, on_step=on_step, engines=engines)


def _text(path: Path | None) -> str | None:
    return str(path) if path else None


def print_saved(result: GenerationResult, saved: SavedImages) -> None:
    """The files written, one a line, and what made them."""
    for path in saved.paths:
        console.print(shown(path))
    if saved.grid:
        console.print(f"{shown(saved.grid)}  (grid)")
    seconds = result.timings.get("generate_s", 0.0)
    console.print(f"{len(saved.paths)} image(s) from {shown(result.model)} in {seconds:.2f}s")


def build_request(
    overrides: dict[str, Any], from_image: Path | None
) -> tuple[GenerationRequest, int | None]:
    """The request to run and, for an exact --from of a batch image, which image to keep.
    Flags given on the command line win over the values read from --from."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if from_image is None:
        if "prompt" not in given:
            raise fail("a PROMPT is needed (or --from IMAGE to regenerate an image)")
        from genlab.services.generation import new_request

        return new_request(**given), None
    from genlab.core.imageio import read_metadata
    from genlab.services.generation import reproduction

    request, only = reproduction(read_metadata(from_image))
    if only is not None and ({"seed", "batch_size"} & given.keys()):
        # A new seed or batch is a new image, not a reproduction: start from the image alone.
        request, only = request.replace(seed=request.seeds()[only], batch_size=1), None
    return GenerationRequest.from_dict({**request.to_dict(), **given}), only
