"""Offline data for training and evaluating super-resolution: scikit-image's bundled photos.

Four colour photos are held out for evaluation and never feed training. `cat` is
left out of everything because it is the same picture as `chelsea`. The rest of
the bundled images (most are greyscale; that suits a network trained on luma)
make the training set. Low-resolution inputs are made the standard way: the
high-resolution image cropped to a multiple of the scale, then downscaled with
Pillow's antialiased bicubic filter.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

HELD_OUT = ("astronaut", "coffee", "chelsea", "rocket")
TRAIN_PHOTOS = (
    "camera",
    "motorcycle_left",
    "motorcycle_right",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "cell",
    "brick",
    "grass",
    "gravel",
    "moon",
    "coins",
    "page",
    "text",
    "clock",
    "logo",
)
# Not used: `cat` (= chelsea), and the binary or synthetic ones (horse, binary_blobs,
# checkerboard, colorwheel, shepp_logan_phantom) whose hard edges teach ringing, not detail.
assert not set(HELD_OUT) & set(TRAIN_PHOTOS)

# Extra copies of each training photo at smaller sizes: a cheap way to see the same
# textures at other frequencies (as the 91-image ESPCN/FSRCNN training sets do).
TRAIN_RESIZES = (1.0, 0.8, 0.6)


def load_photo(name: str) -> Image.Image:
    """A bundled scikit-image photo as 8-bit RGB (greyscale repeated, RGBA on white)."""
    import skimage.data

    if name == "cat":
        raise ValueError("'cat' is chelsea under another name and is not used")
    if name.startswith("motorcycle_"):  # the two views of skimage's stereo pair
        left, right, _ = skimage.data.stereo_motorcycle()
        array = left if name == "motorcycle_left" else right
    else:
        array = getattr(skimage.data, name)()
    if array.dtype != np.uint8:
        array = (np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8)
    if array.ndim == 2:
        return Image.fromarray(array, "L").convert("RGB")
    if array.shape[2] == 4:
        rgba = Image.fromarray(array, "RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return Image.fromarray(array, "RGB")


def crop_to_multiple(image: Image.Image, scale: int) -> Image.Image:
    """Crop right and bottom so both sides divide by `scale`."""
    width, height = image.size
    return image.crop((0, 0, width - width % scale, height - height % scale))


def downscale(image: Image.Image, scale: int) -> Image.Image:
    """The low-resolution input: antialiased bicubic (Pillow filters at the output rate)."""
    width, height = image.size
    return image.resize((width // scale, height // scale), Image.Resampling.BICUBIC)


@dataclass(frozen=True)
class Pair:
    """One HR image and its LR version, both 8-bit RGB arrays."""

    name: str
    hr: np.ndarray  # (H, W, 3) uint8
    lr: np.ndarray  # (H/scale, W/scale, 3) uint8


def make_pair(name: str, image: Image.Image, scale: int) -> Pair:
    hr = crop_to_multiple(image, scale)
    return Pair(name, np.asarray(hr), np.asarray(downscale(hr, scale)))


def eval_pairs(scale: int, names: tuple[str, ...] = HELD_OUT) -> list[Pair]:
    """The held-out photos as (HR, LR) pairs for evaluation."""
    return [make_pair(name, load_photo(name), scale) for name in names]


def train_pairs(scale: int) -> list[Pair]:
    """Training photos (never the held-out ones) at each size in TRAIN_RESIZES."""
    pairs = []
    for name in TRAIN_PHOTOS:
        photo = load_photo(name)
        for factor in TRAIN_RESIZES:
            size = (round(photo.width * factor), round(photo.height * factor))
            resized = photo if factor == 1.0 else photo.resize(size, Image.Resampling.BICUBIC)
            pairs.append(make_pair(f"{name}@{factor}", resized, scale))
    log.info("training pairs: %d images from %d photos", len(pairs), len(TRAIN_PHOTOS))
    return pairs


class PatchSampler:
    """Random aligned LR/HR patches with flips and 90° turns, from a seeded generator.

    Every photo is drawn equally often (its resized copies share its turn, by area):
    drawing by area alone lets the two largest, retina and hubble_deep_field, which
    are mostly flat dark background, fill half of every batch.
    Arrays are converted once to float32 in [0, 1] in the model's colour space.
    """

    def __init__(self, pairs: list[Pair], scale: int, patch: int, channels: str, seed: int):
        from genlab.metrics.sr import to_model_space

        self.scale, self.patch = scale, patch
        small = [p.name for p in pairs if min(p.lr.shape[:2]) < patch]
        if small:  # e.g. the smallest copies of `page` at ×4
            log.info("skipping images smaller than a %d px patch: %s", patch, ", ".join(small))
        pairs = [p for p in pairs if p.name not in small]
        if not pairs:
            raise ValueError(f"patch {patch} is larger than every LR image")
        self.hr = [to_model_space(p.hr, channels) for p in pairs]  # each (C, H, W)
        self.lr = [to_model_space(p.lr, channels) for p in pairs]
        areas = np.array([lr.shape[1] * lr.shape[2] for lr in self.lr], dtype=np.float64)
        photos = [p.name.split("@")[0] for p in pairs]
        photo_area = {name: 0.0 for name in photos}
        for name, area in zip(photos, areas):
            photo_area[name] += area
        weights = np.array([a / photo_area[n] for n, a in zip(photos, areas)])
        self.weights = weights / weights.sum()
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(B, C, p, p) LR and (B, C, p*s, p*s) HR patches."""
        s, p = self.scale, self.patch
        lrs, hrs = [], []
        for index in self.rng.choice(len(self.lr), size=size, p=self.weights):
            lr, hr = self.lr[index], self.hr[index]
            y = int(self.rng.integers(0, lr.shape[1] - p + 1))
            x = int(self.rng.integers(0, lr.shape[2] - p + 1))
            lr_patch = lr[:, y : y + p, x : x + p]
            hr_patch = hr[:, y * s : (y + p) * s, x * s : (x + p) * s]
            turns, flip = int(self.rng.integers(4)), bool(self.rng.integers(2))
            lr_patch, hr_patch = _augment(lr_patch, turns, flip), _augment(hr_patch, turns, flip)
            lrs.append(lr_patch)
            hrs.append(hr_patch)
        return np.stack(lrs), np.stack(hrs)


def _augment(patch: np.ndarray, turns: int, flip: bool) -> np.ndarray:
    patch = np.rot90(patch, turns, axes=(1, 2))
    return np.ascontiguousarray(patch[:, :, ::-1] if flip else patch)
