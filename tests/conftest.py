from __future__ import annotations

import sys
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


@pytest.fixture(autouse=True)
def subnormal_floats_for_hypothesis(request: pytest.FixtureRequest) -> None:
    """Hypothesis draws subnormal floats and refuses to run where they flush to zero.
    Flushing is process-wide: engine tests and the trainer switch it on for speed,
    and which of them shared this test's worker depends on xdist's schedule."""
    from hypothesis import is_hypothesis_test

    torch = sys.modules.get("torch")  # only if some test loaded it: never load it here
    # A test decorated with @given, or one that builds its @given inside (the API fuzz).
    draws = is_hypothesis_test(request.function) or "given" in vars(request.module)
    if torch is not None and draws:
        torch.set_flush_denormal(False)


@pytest.fixture(scope="module")
def one_thread_flushed():
    """For a module of tiny-network tests: random tiny networks produce subnormal
    floats, which make CPU matmuls up to 100x slower. Flushing is per thread, so the
    module runs torch on this thread only (too small to gain from more)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)
    torch.set_num_threads(threads)
