"""AUTOMATIC1111's sampler and schedule-type names, the vocabulary users type.

Only the names live here (plain data, no torch); engines map them to their own
schedulers and say which ones a given model accepts.
"""

SAMPLERS: tuple[str, ...] = (
    "Euler",
    "Euler a",
    "Heun",
    "LMS",
    "DPM2",
    "DPM2 a",
    "DPM++ 2M",
    "DPM++ 2M SDE",
    "DPM++ SDE",
    "DDIM",
    "PLMS",
    "UniPC",
)

# "Automatic" keeps whatever spacing the model's own scheduler config says.
SCHEDULES: tuple[str, ...] = (
    "Automatic",
    "Uniform",
    "Karras",
    "Exponential",
    "SGM Uniform",
    "Beta",
)


def canonical_sampler(name: str) -> str:
    """Case-insensitive match to an A1111 sampler name; ValueError lists valid ones."""
    for known in SAMPLERS:
        if known.lower() == name.strip().lower():
            return known
    raise ValueError(f"unknown sampler; valid: {', '.join(SAMPLERS)}")


def canonical_schedule(name: str) -> str:
    for known in SCHEDULES:
        if known.lower() == name.strip().lower():
            return known
    raise ValueError(f"unknown schedule type; valid: {', '.join(SCHEDULES)}")


def split_legacy_sampler(text: str) -> tuple[str, str]:
    """Read pre-1.9 A1111 names such as 'DPM++ 2M Karras' as (sampler, schedule)."""
    for schedule in sorted(SCHEDULES, key=len, reverse=True):
        suffix = " " + schedule
        if text.endswith(suffix) and text[: -len(suffix)].strip():
            return text[: -len(suffix)], schedule
    return text, "Automatic"


# Hires fix upscalers: A1111's latent modes (name -> torch interpolate mode, antialias)
# and image upscalers: A1111's resamplers and genlab's own (see genlab.upscale).
LATENT_UPSCALERS: dict[str, tuple[str, bool]] = {
    "Latent": ("bilinear", False),
    "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False),
    "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False),
    "Latent (nearest-exact)": ("nearest-exact", False),
}
IMAGE_UPSCALERS: tuple[str, ...] = ("Lanczos", "Nearest", "bicubic", "espcn")
HIRES_UPSCALERS: tuple[str, ...] = (*LATENT_UPSCALERS, *IMAGE_UPSCALERS)


def canonical_hires_upscaler(name: str) -> str:
    for known in HIRES_UPSCALERS:
        if known.lower() == name.strip().lower():
            return known
    raise ValueError(f"unknown hires upscaler; valid: {', '.join(HIRES_UPSCALERS)}")
