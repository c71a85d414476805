from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_pipeline import build_tiny_pipeline


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real SD pipeline folder (txt2img and img2img); built once per session."""
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="session")
def tiny_inpaint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, with a 9-channel UNet as SD inpainting checkpoints have."""
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd-inpaint"), inpaint=True)
