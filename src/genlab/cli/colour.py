"""`genlab recolor` and `genlab palette` — colour transfer and palettes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from genlab.cli.errors import user_errors
from genlab.cli.terminal import shown

console = Console(highlight=False)

Opt = typer.Option


@user_errors
def recolor(
    image: Annotated[Path, typer.Argument(help="The image to recolour.")],
    like: Annotated[
        Path | None, Opt("--like", help="Reference image whose colours to take.")
    ] = None,
    palette: Annotated[
        str | None,
        Opt(help="A preset name, a palette file (.txt/.json) or '#hex,#hex,…'."),
    ] = None,
    method: Annotated[
        str, Opt("--method", "-m", help="With --like: reinhard, histogram or ot.")
    ] = "reinhard",
    strength: Annotated[float, Opt(help="0 keeps the original, 1 is the full change.")] = 1.0,
    regrain: Annotated[bool, Opt(help="With --method ot: keep the source's fine detail.")] = True,
    seed: Annotated[int, Opt(help="Seed for pixel sampling and clustering.")] = 0,
    out: Annotated[Path, Opt("--out", "-o", help="Output folder or image file.")] = Path(
        "outputs/recolor"
    ),
) -> None:
    """Give IMAGE the colours of a reference image (--like) or of a palette (--palette)."""
    from genlab.core.images import open_image
    from genlab.services import tools
    from genlab.services.outputs import output_path, save_tool_image

    request = tools.RecolorRequest(
        palette=palette,
        like=str(like) if like is not None else None,
        method=method,
        strength=strength,
        regrain=regrain,
        seed=seed,
    )
    target = tools.target_palette(palette, files=True) if palette is not None else None
    source = open_image(image, what="image")
    reference = open_image(like, what="reference") if like is not None else None
    target_path = output_path(out, image, "recolor")
    with console.status("recolouring…"):
        result = tools.recolor(request, source, like=reference, palette=target)
    params: dict[str, object] = (
        {"method": method, "reference": str(like)}
        if like is not None
        else {"method": "palette", "palette": palette}
    )
    if like is not None and method == "ot":
        params["regrain"] = regrain
    params.update(
        strength=strength,
        seed=seed,
        distance=f"{result.distance_before:.2f} -> {result.distance_after:.2f}",
    )
    saved = save_tool_image(result.image, target_path, tool="recolor", params=params, source=image)
    console.print(shown(saved))
    what = "reference palette" if like is not None else "target palette"
    console.print(
        f"distance to {what}: before {result.distance_before:.2f} → "
        f"after {result.distance_after:.2f} (EMD in Lab, ΔE)"
    )


@user_errors
def palette(
    image: Annotated[Path, typer.Argument(help="The image to take colours from.")],
    k: Annotated[int, Opt("-k", "--colours", help="How many colours (1 to 16).")] = 6,
    seed: Annotated[int, Opt(help="Seed for pixel sampling and k-means.")] = 0,
    as_json: Annotated[bool, Opt("--json", help="Print JSON instead of a list.")] = False,
    out: Annotated[Path, Opt("--out", "-o", help="Output folder or swatch file.")] = Path(
        "outputs/palette"
    ),
) -> None:
    """Extract IMAGE's main colours (k-means in Lab), save a swatch and list them."""
    from genlab.core.images import open_image
    from genlab.services import tools
    from genlab.services.outputs import output_path, save_tool_image

    request = tools.PaletteRequest(k=k, seed=seed)
    source = open_image(image, what="image")
    target_path = output_path(out, image, "palette")
    found, swatch = tools.extract_palette(request, source)
    params = {"k": k, "seed": seed, "palette": " ".join(found.hex)}
    saved = save_tool_image(swatch, target_path, tool="palette", params=params, source=image)
    if as_json:
        typer.echo(json.dumps({"image": str(image), "swatch": str(saved), **found.to_dict()}))
        return
    for hex_code, weight in zip(found.hex, found.weights):
        console.print(f"[on {hex_code}]    [/] {hex_code}  {weight * 100:5.1f}%")
    if len(found.colours) < k:
        console.print(f"only {len(found.colours)} distinct colours in {shown(image)}")
    console.print(shown(saved))
