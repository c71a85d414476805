"""`genlab style` — neural style transfer (Gatys et al.) on VGG-19 features."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from genlab.cli.errors import err_console, user_errors
from genlab.cli.progress import progress_bar
from genlab.cli.terminal import shown

console = Console(highlight=False)

Opt = typer.Option

# The longer options' types, so the command's signature reads one option a line.
IterationsOpt = Annotated[int | None, Opt(help="Loss evaluations at the finest scale [150].")]
CoarseIterationsOpt = Annotated[
    int | None, Opt(help="Loss evaluations at each coarser scale [150].")
]
ScalesOpt = Annotated[int | None, Opt(help="Coarse-to-fine levels, each 2x the previous [3].")]
StrengthOpt = Annotated[
    float | None,
    Opt(help="0..1: style targets blended from the content's own (0) to the style's (1)."),
]
PreserveColoursOpt = Annotated[
    bool,
    Opt(
        "--preserve-colours",
        "--preserve-colors",
        help="Transfer luminance only; keep the content's colours.",
    ),
]
StyleScaleOpt = Annotated[float | None, Opt(help="Style image size relative to the output [1].")]
WeightsOpt = Annotated[
    Path | None,
    Opt(help="VGG-19 state dict (.pth/.safetensors) [torchvision's cached file]."),
]
FramesOpt = Annotated[Path | None, Opt(help="Also write intermediate frames into this folder.")]


@user_errors
def style(
    content: Annotated[Path, typer.Argument(help="The picture to repaint.")],
    style_image: Annotated[Path, typer.Argument(metavar="STYLE", help="The style to copy.")],
    size: Annotated[int | None, Opt(help="Long side of the output in px [512].")] = None,
    iterations: IterationsOpt = None,
    coarse_iterations: CoarseIterationsOpt = None,
    scales: ScalesOpt = None,
    optimizer: Annotated[str | None, Opt(help="lbfgs or adam [lbfgs].")] = None,
    learning_rate: Annotated[float | None, Opt(help="Adam step in pixel units [0.02].")] = None,
    content_weight: Annotated[float | None, Opt(help="Weight of the content term [1].")] = None,
    style_weight: Annotated[float | None, Opt(help="Weight of the style term [10].")] = None,
    tv_weight: Annotated[float | None, Opt(help="Total-variation (smoothness) weight [1].")] = None,
    strength: StrengthOpt = None,
    preserve_colours: PreserveColoursOpt = False,
    style_scale: StyleScaleOpt = None,
    init: Annotated[str | None, Opt(help="content or noise [content].")] = None,
    pooling: Annotated[str | None, Opt(help="max or avg (Gatys) [max].")] = None,
    seed: Annotated[int | None, Opt(help="-1 for random [0].")] = None,
    weights: WeightsOpt = None,
    frames: FramesOpt = None,
    frame_every: Annotated[int, Opt(help="With --frames: every N evaluations.")] = 10,
    device: Annotated[str | None, Opt(help="auto, cpu, cuda or cuda:N [auto].")] = None,
    out: Annotated[Path, Opt("--out", "-o", help="Output folder or file.")] = Path("outputs/style"),
) -> None:
    """Repaint CONTENT in the style of STYLE (Gatys et al. 2015, VGG-19, coarse to fine).

    Uses torchvision's VGG-19 file (vgg19-dcbb9e9d.pth in $TORCH_HOME/hub/checkpoints)
    or --weights; without it, a random-filter VGG-19 fallback, named in the output."""
    from genlab.core.errors import InvalidRequest
    from genlab.core.images import open_image
    from genlab.services import tools
    from genlab.services.outputs import check_output_folder, output_path

    options: dict[str, Any] = {
        **dict(size=size, iterations=iterations, coarse_iterations=coarse_iterations),
        **dict(scales=scales, optimizer=optimizer, learning_rate=learning_rate),
        **dict(content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight),
        **dict(strength=strength, style_scale=style_scale, init=init, pooling=pooling),
        **dict(seed=seed, preserve_colours=preserve_colours),
    }
    if frames is not None and frame_every < 1:
        raise InvalidRequest("frame_every", frame_every, "must be >= 1 with --frames")
    request = tools.StyleRequest(
        options, frame_every=frame_every if frames is not None else 0, device=device
    )
    # 1. Inputs and the output name first: a bad argument ends before any work or file.
    content_pil = open_image(content, what="content image")
    style_pil = open_image(style_image, what="style image", keep_alpha=False)
    tools.style_work(request, content_pil, style_pil)
    target = output_path(out, content, "style")
    if frames is not None:
        check_output_folder(frames, "--frames")
    result = _run_style(request, content_pil, style_pil, weights, frames)
    _save_style(result, target, content, style_image, weights)


def _run_style(request: Any, content: Any, style: Any, weights: Path | None, frames: Any) -> Any:
    """2. Optimise, with the losses on the progress bar (shown from the first
    evaluation, so an error while loading the weights stays a single line)."""
    from genlab.core.result import StepEvent
    from genlab.services import tools

    progress = progress_bar(console)
    task = progress.add_task("style", total=None)

    def on_step(event: StepEvent) -> None:
        if event.preview is not None:
            if frames is not None:
                frames.mkdir(parents=True, exist_ok=True)
                event.preview()[-1].save(frames / f"frame-{event.step:05d}.png")
            return
        if event.step == 1:
            progress.start()
        progress.update(task, completed=event.step, total=event.total, description=event.detail)

    try:
        with _library_warnings_to_stderr():
            return tools.stylize(request, content, style, weights=weights, on_step=on_step)
    finally:
        if progress.live.is_started:
            progress.stop()


def _save_style(
    result: Any, target: Path, content: Path, style: Path, weights: Path | None
) -> None:
    """3. Save with the settings in the metadata."""
    from genlab.services.outputs import save_tool_image

    params = {**result.params(), "style image": style.name}
    if weights is not None:
        params["weights"] = weights.name
    saved = save_tool_image(result.image, target, tool="style", params=params, source=content)
    console.print(shown(saved))
    console.print(
        f"{result.image.width}x{result.image.height} in {result.seconds:.1f}s, "
        f"features: {result.features}, seed {result.seed}, final loss {result.losses['loss']:.4g}"
    )


class _StderrHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        err_console.print(f"[yellow]warning:[/] {shown(record.getMessage())}", markup=True)


@contextmanager
def _library_warnings_to_stderr() -> Iterator[None]:
    """Show the transfer package's warnings (e.g. the random-filter fallback) as one
    line each on stderr, and only there, while the command runs."""
    logger = logging.getLogger("genlab.transfer")
    handler = _StderrHandler(level=logging.WARNING)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
