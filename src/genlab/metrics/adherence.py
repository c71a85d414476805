"""Prompt adherence, in the spirit of GenEval, judged by the Shapes World detector.

Prompts come in categories (single object, two objects, counting, colours, position,
colour attribution, background/lighting) and use the combinations held out of the
built-in model's training data, so a model scores only by composing what it learned.
Each image is correct or not: the detector must find exactly the objects the prompt
asks for (shape, and colour / size where the prompt says), with its relations holding
and its background and lighting where named. Overall accuracy is the mean of the
category accuracies, as GenEval reports it. Intervals are 95% bootstrap intervals
over prompts, since images of one prompt are not independent of each other.

The detector judges grey and colours with perceptual tolerances ("v2", CIELAB); the
first judge's raw-channel ones ("v1") remain for comparison. A judge should agree with
a person, so it is validated on changes no person would call a different picture
(`DISTURBANCES`: tints of a few levels, JPEG, a slight blur, faint noise) and on
renders of the wrong scene (`wrong_prompts`), in benchmarks/judge_validation.py.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from genlab.world.dataset import HELD_OUT_PAIRS, HELD_OUT_RELATIONS
from genlab.world.detect import DEFAULT_TOLERANCES, detect, tolerances_named
from genlab.world.scene import SceneSpec, relation_holds
from genlab.world.vocab import COLOURS, SHAPES, plural

if TYPE_CHECKING:
    from PIL import Image

    from genlab.world.detect import DetectedObject, Detection

log = logging.getLogger(__name__)

CATEGORIES = (
    "single_object",
    "two_objects",
    "counting",
    "colours",
    "position",
    "colour_attribution",
    "background_lighting",
)
_RELATION_WORDS = {"left_of": "left of", "right_of": "right of", "above": "above", "below": "below"}
_LIGHTING_WORDS = {"noon": "at noon", "night": "at night", "golden_hour": "at golden hour"}
BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True)
class AdherencePrompt:
    category: str
    prompt: str


def prompt_set() -> list[AdherencePrompt]:
    """The benchmark's prompts, fixed so results compare across models and runs."""
    pairs = sorted(HELD_OUT_PAIRS)
    prompts = [AdherencePrompt("single_object", f"a {shape}") for shape in SHAPES]
    prompts += [
        AdherencePrompt("two_objects", f"a {a} and a {b}")
        for a, b in itertools.combinations(SHAPES, 2)
    ]
    prompts += [
        AdherencePrompt("counting", f"{number} {plural(shape)}")
        for number, shape in itertools.product(("two", "three"), SHAPES)
    ]
    prompts += [AdherencePrompt("colours", f"a {colour} {shape}") for colour, shape in pairs]
    for subject, relation, obj in sorted(HELD_OUT_RELATIONS):
        # Each held-out fact in both of its wordings: "A above B" and "B below A".
        inverse = {"left_of": "right_of", "above": "below"}[relation]
        for a, rel, b in ((subject, relation, obj), (obj, inverse, subject)):
            prompts.append(AdherencePrompt("position", f"a {a} {_RELATION_WORDS[rel]} a {b}"))
    prompts += [
        AdherencePrompt("colour_attribution", f"a {c1} {s1} and a {c2} {s2}")
        for (c1, s1), (c2, s2) in zip(pairs, pairs[1:] + pairs[:1])
        if s1 != s2
    ]
    backgrounds = ("green", "blue", "pink", "orange")
    prompts += [
        AdherencePrompt("background_lighting", f"a {shape} on a {bg} background {light}")
        for shape, bg, light in zip(
            SHAPES, itertools.cycle(backgrounds), itertools.cycle(_LIGHTING_WORDS.values())
        )
    ]
    return prompts


def judge(prompt: str, found: Detection) -> bool:
    """Whether the detected scene is what `prompt` asks for (see the module doc)."""
    from genlab.world.parse import parse_prompt

    spec = parse_prompt(prompt).scene_spec
    if spec.background and found.background != spec.background:
        return False
    if spec.lighting and found.lighting != spec.lighting:
        return False
    if len(found.objects) != len(spec.objects):
        return False
    return any(_fits(spec, order) for order in itertools.permutations(found.objects))


def _fits(spec: SceneSpec, order: Sequence[DetectedObject]) -> bool:
    for want, got in zip(spec.objects, order):
        if want.shape and want.shape not in (got.shapes or (got.shape,)):
            return False
        if want.colour and want.colour != got.colour:
            return False
        if want.size and want.size != got.size:
            return False
    return all(
        relation_holds(order[r.subject_index], r.relation, order[r.object_index])
        for r in spec.relations
    )


# -- running it ---------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryScore:
    category: str
    correct: int
    images: int
    prompts: int
    accuracy: float
    low: float
    high: float


@dataclass(frozen=True)
class AdherenceReport:
    model: str
    images_per_prompt: int
    categories: tuple[CategoryScore, ...]
    overall: float
    overall_low: float
    overall_high: float
    # per prompt: (category, prompt, [correct per image])
    results: tuple[tuple[str, str, tuple[bool, ...]], ...] = field(repr=False)
    tolerances: str = DEFAULT_TOLERANCES  # the detector's, see genlab.world.detect

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "images_per_prompt": self.images_per_prompt,
            "judge": f"Shapes World detector (genlab.world.detect), {self.tolerances} tolerances",
            "tolerances": self.tolerances,
            "overall": {"accuracy": self.overall, "ci95": [self.overall_low, self.overall_high]},
            "categories": {
                c.category: {
                    "accuracy": c.accuracy,
                    "ci95": [c.low, c.high],
                    "correct": c.correct,
                    "images": c.images,
                    "prompts": c.prompts,
                }
                for c in self.categories
            },
            "prompts": [
                {"category": cat, "prompt": text, "correct": list(marks)}
                for cat, text, marks in self.results
            ],
        }


GenerateImages = Callable[[str, int], "list[Image.Image]"]


def evaluate(
    model: str,
    generate_images: GenerateImages,
    *,
    images_per_prompt: int = 4,
    prompts: Sequence[AdherencePrompt] | None = None,
    on_prompt: Callable[[int, int], None] | None = None,
    seed: int = 0,
    tolerances: str = DEFAULT_TOLERANCES,
) -> AdherenceReport:
    """Score `generate_images(prompt, n) -> n images` on the prompt set, judged by the
    detector with the named `tolerances` ("v1" only to compare with the first judge)."""
    tolerances_named(tolerances)  # a wrong name fails before any image is drawn
    prompts = list(prompts or prompt_set())
    results = []
    for i, item in enumerate(prompts):
        images = generate_images(item.prompt, images_per_prompt)
        marks = tuple(judge(item.prompt, detect(image, tolerances=tolerances)) for image in images)
        results.append((item.category, item.prompt, marks))
        if on_prompt is not None:
            on_prompt(i + 1, len(prompts))
    return summarise(model, images_per_prompt, results, seed=seed, tolerances=tolerances)


def summarise(
    model: str,
    images_per_prompt: int,
    results: Sequence[tuple[str, str, tuple[bool, ...]]],
    *,
    seed: int = 0,
    tolerances: str = DEFAULT_TOLERANCES,
) -> AdherenceReport:
    import numpy as np

    rng = np.random.default_rng(seed)
    present = [c for c in CATEGORIES if any(r[0] == c for r in results)]
    scores, boots = [], []
    for category in present:
        per_prompt = np.array(
            [np.mean(marks) for cat, _, marks in results if cat == category]
        )  # (P,)
        images = sum(len(marks) for cat, _, marks in results if cat == category)
        correct = sum(sum(marks) for cat, _, marks in results if cat == category)
        # Resample prompts (with their images) to respect within-prompt correlation.
        draws = rng.integers(0, len(per_prompt), (BOOTSTRAP_SAMPLES, len(per_prompt)))
        boot = per_prompt[draws].mean(axis=1)  # (S,)
        boots.append(boot)
        low, high = np.percentile(boot, [2.5, 97.5])
        scores.append(
            CategoryScore(
                category,
                int(correct),
                int(images),
                len(per_prompt),
                float(correct / images),
                float(low),
                float(high),
            )
        )
    overall_boot = np.mean(boots, axis=0)
    low, high = np.percentile(overall_boot, [2.5, 97.5])
    return AdherenceReport(
        model=model,
        images_per_prompt=images_per_prompt,
        categories=tuple(scores),
        overall=float(np.mean([s.accuracy for s in scores])),
        overall_low=float(low),
        overall_high=float(high),
        results=tuple(results),
        tolerances=tolerances,
    )


# -- validating the judge -----------------------------------------------------------


def _tint(levels: int, image: Image.Image, seed: int) -> Image.Image:
    """`levels`/255 more of one channel (which one cycles with `seed`)."""
    import numpy as np
    from PIL import Image

    data = np.asarray(image.convert("RGB"), np.int16).copy()
    data[..., seed % 3] += levels
    return Image.fromarray(np.clip(data, 0, 255).astype(np.uint8))


def _jpeg(quality: int, image: Image.Image, seed: int, *, subsampling: int = 2) -> Image.Image:
    """Saved as JPEG and read back; colour at half resolution (4:2:0, Pillow's default)
    unless `subsampling` is 0 (4:4:4)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality, subsampling=subsampling)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _blur(sigma: float, image: Image.Image, seed: int) -> Image.Image:
    """A Gaussian blur of `sigma` pixels (edges repeat the border)."""
    import numpy as np
    from PIL import Image
    from scipy import ndimage

    data = ndimage.gaussian_filter(
        np.asarray(image.convert("RGB"), np.float32), (sigma, sigma, 0), mode="nearest"
    )
    return Image.fromarray(np.clip(np.rint(data), 0, 255).astype(np.uint8))


def _noise(psnr_db: float, image: Image.Image, seed: int) -> Image.Image:
    """Gaussian noise whose PSNR is `psnr_db` (sigma 2.55/255 at 40 dB), seeded."""
    import numpy as np
    from PIL import Image

    sigma = 255 * 10 ** (-psnr_db / 20)
    data = np.asarray(image.convert("RGB"), np.float32)
    data = data + np.random.default_rng(seed).normal(0, sigma, data.shape)
    return Image.fromarray(np.clip(np.rint(data), 0, 255).astype(np.uint8))


# Changes that leave a picture the same picture to a person, so a judge that agrees
# with people keeps its verdicts under each: name → (image, seed) → image.
DISTURBANCES: dict[str, Callable[[Image.Image, int], Image.Image]] = {
    "tint +2/255": functools.partial(_tint, 2),
    "tint +4/255": functools.partial(_tint, 4),
    "JPEG q95": functools.partial(_jpeg, 95),
    "JPEG q90": functools.partial(_jpeg, 90),
    # The same without halving colour resolution: what JPEG's quantisation alone does.
    "JPEG q90 4:4:4": functools.partial(_jpeg, 90, subsampling=0),
    "blur 0.5 px": functools.partial(_blur, 0.5),
    "noise 40 dB": functools.partial(_noise, 40.0),
}
_SWAPPED = {"above": "below", "below": "above", "left": "right", "right": "left"}
_COUNTS = {"a": "two", "two": "three", "three": "two"}


def wrong_prompts(prompt: str, seed: int = 0) -> dict[str, str]:
    """Prompts for scenes that `prompt` does not describe, one per mistake a judge must
    catch: "shape" (another shape), "colour" (another colour, background included;
    two colours trade objects), "count" (another number of the first object) and
    "position" (the relation reversed). A kind is left out where `prompt` gives it no
    hold (no colour named) or the change would not read cleanly (a count in a
    relation). `seed` varies which shape and colour replace the asked ones."""
    words = prompt.split()
    singular = {plural(shape): shape for shape in SHAPES}
    first = next(i for i, word in enumerate(words) if singular.get(word, word) in SHAPES)
    colours = [i for i, word in enumerate(words) if word in COLOURS]
    relation = next((i for i, word in enumerate(words) if word in _SWAPPED), None)
    wrong = {}
    others = [shape for shape in SHAPES if shape not in words and plural(shape) not in words]
    other = others[seed % len(others)]
    wrong["shape"] = _with(words, {first: plural(other) if words[first] in singular else other})
    if len(colours) == 2:  # each colour on the other's object: the binding mistake
        a, b = colours
        wrong["colour"] = _with(words, {a: words[b], b: words[a]})
    elif colours:
        others = [colour for colour in COLOURS if colour not in words]
        wrong["colour"] = _with(words, {colours[0]: others[seed % len(others)]})
    if relation is not None:
        wrong["position"] = _with(words, {relation: _SWAPPED[words[relation]]})
    elif words[0] in _COUNTS:
        counted = {0: _COUNTS[words[0]]}
        if words[0] == "a":
            counted[first] = plural(words[first])
        wrong["count"] = _with(words, counted)
    return wrong


def _with(words: list[str], changes: dict[int, str]) -> str:
    """`words` joined, with the word at each index of `changes` replaced."""
    return " ".join(changes.get(i, word) for i, word in enumerate(words))
