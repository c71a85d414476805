"""Data a user can ask about: audit a folder, plan and write the images that balance
it. The CLI's `genlab data …` commands call these; the work is in genlab.data."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlab.core.errors import GenlabError
from genlab.services.outputs import check_output_folder

Progress = Callable[[int, int], None]


def audit_folder(
    folder: Path,
    out: Path,
    *,
    reference: Path | None = None,
    features: bool = True,
    distance: int = 4,
    on_image: Progress | None = None,
):
    """Audit `folder` and write audit.html and audit.json into `out`; returns the
    AuditResult and the two paths."""
    from genlab.data.audit import audit
    from genlab.data.report import write

    check_output_folder(out)
    if not 0 <= distance <= 32:
        raise GenlabError(f"--distance must be 0 to 32 bits of 64, not {distance}")
    result = audit(
        folder, reference=reference, features=features, distance=distance, on_image=on_image
    )
    html, data = write(result, out)
    return result, html, data


@dataclass(frozen=True)
class AugmentJob:
    plan: Any  # genlab.data.augment.Plan
    records: list
    items: list
    fields: tuple[str, ...]
    size: int
    problems: list[str]


def augment_plan(
    folder: Path, *, to: str = "uniform", by: str = "colour,shape", all_values: bool = False
) -> AugmentJob:
    """The plan that moves `folder` to `to` ("uniform" or a reference folder)."""
    from genlab.data.audit import folder_items
    from genlab.data.augment import make_plan, parse_by

    names = parse_by(by)
    records, items, problems = folder_items(folder)
    if not items:
        raise GenlabError(f"{folder} has no image with readable attributes")
    reference = None
    if to != "uniform":
        if not Path(to).is_dir():
            raise GenlabError(f"--to must be 'uniform' or a reference folder, not {to!r}")
        _, reference, _ = folder_items(Path(to))
    plan = make_plan(items, names, reference, all_values=all_values)
    return AugmentJob(plan, records, items, _fields(records), _size(records), problems)


def augment(
    job: AugmentJob,
    out: Path,
    *,
    engine: str = "procedural",
    seed: int = 0,
    on_image: Progress | None = None,
) -> int:
    """Write `job`'s images into `out` with `engine` ("classic" transforms the folder's
    own images); returns how many were written now (a resumed run skips the rest)."""
    from genlab.data.augment import write

    check_output_folder(out)
    if engine == "classic":
        from genlab.data.classic import ClassicDraw

        draw = ClassicDraw(job.records, job.items, job.plan.by)
        empty = [c for c, n in job.plan.add.items() if n and not draw.sources.get(c)]
        if empty:
            raise GenlabError(f"classic augmentation has no source image of {', '.join(empty[:5])}")
    else:
        draw = _engine_draw(engine, job.size)
    return write(job.plan, out, draw, seed=seed, fields=job.fields, on_image=on_image)


def _engine_draw(model: str, size: int):
    """A Draw through the generation service: any engine; the procedural one also
    gives the exact scene graph and a caption in Shapes World's own words."""
    from genlab.engines import engine_name_for
    from genlab.engines.cache import generate, new_request

    procedural = engine_name_for(model) == "procedural"

    def draw(combination: str, prompt: str, seed: int):
        request = new_request(prompt=prompt, model=model, seed=seed, width=size, height=size)
        image = generate(request).images[0]
        if not procedural:
            return image, None, prompt, {}
        from genlab.engines.procedural import ProceduralEngine
        from genlab.world.caption import caption

        scene = ProceduralEngine.scene_for(prompt, seed)
        return image, scene.to_dict(), caption(scene, random.Random(seed)), {}

    return draw


def _fields(records) -> tuple[str, ...]:
    fields = []
    if any(r.caption is not None for r in records):
        fields.append("text")
    if any(r.scene is not None for r in records):
        fields.append("scene")
    fields += sorted({k for r in records for k in r.labels})
    return tuple(fields) or ("text",)


def _size(records) -> int:
    """The side of generated images: the folder's first image's, to a multiple of 8."""
    from PIL import Image

    for record in records:
        try:
            with Image.open(record.path) as image:
                side = max(image.size)
        except OSError:
            continue
        return max(8, min(1024, round(side / 8) * 8))
    return 64


MAX_PROMPTS = 1000


def read_prompts(path: Path) -> list[str]:
    """One prompt per line; blank lines and `#` comments skipped; one-line errors."""
    from genlab.core.text import text_problem

    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GenlabError(f"--prompts {path} is not UTF-8 text") from None
    prompts = [line.strip() for line in text.splitlines()]
    prompts = [p for p in prompts if p and not p.startswith("#")]
    if not prompts:
        raise GenlabError(f"--prompts {path} holds no prompt")
    if len(prompts) > MAX_PROMPTS:
        raise GenlabError(f"--prompts {path} holds {len(prompts)} prompts; at most {MAX_PROMPTS}")
    for number, prompt in enumerate(prompts, 1):
        if problem := text_problem(prompt):
            raise GenlabError(f"--prompts {path}: prompt {number} is {problem}")
    return prompts


def output_bias(
    model: str,
    prompts_file: Path,
    out: Path,
    *,
    images: int = 8,
    training: Path | None = None,
    size: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """What `model` draws for the open attributes of each prompt, against its training
    distribution (`training` folder, else uniform); writes output-bias.json in `out`."""
    import json

    from genlab.core.files import atomic_file
    from genlab.data.audit import folder_items
    from genlab.data.output_bias import compare, open_attributes, tally, training_shares
    from genlab.engines.cache import generate, new_request

    check_output_folder(out)
    if not 1 <= images <= 256:
        raise GenlabError(f"--images must be 1 to 256 per prompt, not {images}")
    prompts = read_prompts(prompts_file)
    for prompt in prompts:
        open_attributes(prompt)  # refuse a prompt the parser cannot read before drawing
    items = folder_items(training)[1] if training is not None else None

    def draw(prompt: str):
        request = new_request(
            prompt=prompt, model=model, seed=seed, batch_size=images, width=size, height=size
        )
        return generate(request).images

    counts = tally(prompts, draw)
    report = {
        "model": model,
        "prompts": prompts,
        "images_per_prompt": images,
        "training": str(training) if training is not None else "uniform over the vocabulary",
        "attributes": {
            name: compare(found, training_shares(items, name)) for name, found in counts.items()
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "output-bias.json", "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    return report
