"""Named palettes for `genlab recolor --palette NAME`.

Each preset lists (hex, weight, name) from darkest to lightest; weights are the share of
the picture a colour should cover and need not sum to 1 (they are normalised). Darks
carry more weight in the moody presets because they are mostly shadow.
"""

from __future__ import annotations

PresetEntry = tuple[str, float, str]

PRESETS: dict[str, tuple[str, tuple[PresetEntry, ...]]] = {
    "vivid-autumn": (
        "rust, pumpkin and mustard over olive and bark",
        (
            ("#3b1f14", 1.0, "bark"),
            ("#7a1e12", 1.0, "maple red"),
            ("#5f6b2a", 1.0, "olive"),
            ("#c8501b", 1.2, "pumpkin"),
            ("#e0a526", 1.0, "mustard"),
            ("#f1dfb8", 0.8, "parchment"),
        ),
    ),
    "monochrome": (
        "neutral greys from ink to paper",
        (
            ("#111111", 1.0, "ink"),
            ("#4a4a4a", 1.0, "graphite"),
            ("#808080", 1.0, "mid grey"),
            ("#b5b5b5", 1.0, "silver"),
            ("#ececec", 1.0, "paper"),
        ),
    ),
    "pastel": (
        "soft, light, low-saturation candy colours",
        (
            ("#8e86b5", 0.8, "dusk lavender"),
            ("#9cc9e6", 1.0, "baby blue"),
            ("#a8dcc0", 1.0, "mint"),
            ("#f4aebe", 1.0, "blush"),
            ("#f8cfa8", 1.0, "peach"),
            ("#fbf0c0", 1.0, "butter"),
        ),
    ),
    "noir": (
        "deep blacks, hard greys and a cold highlight",
        (
            ("#07080a", 2.0, "black"),
            ("#1d2024", 1.5, "charcoal"),
            ("#3e4247", 1.0, "slate"),
            ("#7d8085", 0.7, "smoke"),
            ("#e3e6ea", 0.5, "cold light"),
        ),
    ),
    "golden-hour": (
        "warm amber light with plum shadows",
        (
            ("#2e1a2b", 1.2, "plum shadow"),
            ("#7c3b2a", 1.0, "sienna"),
            ("#c8762e", 1.0, "amber"),
            ("#eaa44c", 1.0, "gold"),
            ("#f6cf8f", 1.0, "honey"),
            ("#fff1d6", 0.6, "glow"),
        ),
    ),
    "neon": (
        "electric magenta, cyan and lime on a night-blue ground",
        (
            ("#0b0826", 2.0, "night"),
            ("#5b12c9", 1.0, "violet"),
            ("#ff1f8e", 1.0, "hot pink"),
            ("#00c8ff", 1.0, "cyan"),
            ("#39ff7a", 0.8, "lime"),
            ("#f4f0ff", 0.5, "tube white"),
        ),
    ),
}
