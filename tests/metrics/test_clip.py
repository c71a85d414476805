"""The `clip` extractor and CLIP score with a tiny randomly initialised CLIPModel saved as
a folder (and as a Hugging Face cache entry), and (marked `weights`) with real CLIP."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.core.errors import InvalidRequest, ModelLoadError
from genlab.metrics import clip
from genlab.metrics.clip_score import clip_score, clip_scores
from genlab.metrics.features import get_extractor
from genlab.train.tokenizer import write_tokenizer_files

WORDS = "a an the of and on in red green blue yellow circle square star heart cat dog".split()
PROJECTION_DIM = 16


def _save_tiny_clip(folder: Path) -> Path:
    """A real CLIPModel at toy size (sizes as transformers' own CLIP tests use), with a
    CLIP-style tokenizer and image processor, saved as one folder."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    write_tokenizer_files(folder / "vocab", WORDS)
    tokenizer = CLIPTokenizer.from_pretrained(folder / "vocab", model_max_length=77)
    shutil.rmtree(folder / "vocab")
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        bos_token_id=0,
        eos_token_id=1,  # "<|endoftext|>" here; the text model pools at its first position
        pad_token_id=1,
    )
    vision = dict(
        image_size=30,
        patch_size=6,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
    )
    torch.manual_seed(0)
    model = CLIPModel(
        CLIPConfig(text_config=text, vision_config=vision, projection_dim=PROJECTION_DIM)
    )
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor(
        size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30}
    ).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="module")
def extractor(clip_dir: Path) -> clip.ClipExtractor:
    return clip.load(clip_dir, "cpu")


@pytest.fixture()
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from huggingface_hub import constants

    cache = tmp_path / "hf-hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def _images(count: int = 6) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    sizes = [(40, 30), (30, 30), (64, 48), (33, 70), (30, 45), (50, 50)]
    return [
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes[:count]
    ]


PROMPTS = ["a red circle", "a blue square", "the green star", "a cat", "a dog", "a heart"]


def test_features_from_a_folder_are_deterministic(extractor):
    assert (extractor.name, extractor.dim) == ("clip", PROJECTION_DIM)
    features = extractor.features(_images(), batch_size=4)
    assert features.shape == (6, PROJECTION_DIM) and features.dtype == np.float64
    assert np.all(np.isfinite(features)) and features.std() > 0
    np.testing.assert_array_equal(extractor.features(_images(), batch_size=4), features)
    # Another batch size changes only the float rounding.
    np.testing.assert_allclose(extractor.features(_images()), features, atol=1e-5)


def test_resize_states_the_processors_own_rule(extractor):
    assert "shortest side to 30 px (bicubic)" in extractor.resize
    assert "centre crop 30x30" in extractor.resize


def test_registry_loads_clip_from_weights_folder(clip_dir):
    loaded = get_extractor("clip", weights=clip_dir)
    assert loaded.name == "clip" and loaded.source == str(clip_dir)


def _cosines_by_hand(extractor, images, prompts) -> np.ndarray:
    """Cosine of each pair from CLIPModel's own forward pass (its normalised embeds)."""
    pixels = extractor.processor(images=images, return_tensors="pt")["pixel_values"]
    tokens = extractor.tokenizer(prompts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = extractor.model(pixel_values=pixels, **tokens)
    return (out.image_embeds * out.text_embeds).sum(-1).double().numpy()  # (N,)


def test_clip_score_is_hessels_formula_on_the_models_own_embeddings(clip_dir):
    images = [image for image in _images() for _ in PROMPTS]  # every image x every prompt
    prompts = PROMPTS * len(_images())
    cosines = []
    # Negating the text projection flips every cosine, so both signs are exercised
    # whatever the random weights happen to give.
    for sign in (1.0, -1.0):
        extractor = clip.load(clip_dir, "cpu")
        extractor.model.text_projection.weight.data.mul_(sign)
        result = clip_score(images, prompts, extractor=extractor, resamples=200)
        cos = _cosines_by_hand(extractor, images, prompts)
        np.testing.assert_allclose(result.scores, 2.5 * np.maximum(cos, 0), atol=1e-5)
        assert np.all(result.scores[cos < 0] == 0)
        assert result.mean == pytest.approx(result.scores.mean())
        low, high = result.ci
        assert low <= result.mean <= high
        assert result.model == str(clip_dir) and result.truncated == ()
        cosines.append(cos)
    np.testing.assert_allclose(cosines[1], -cosines[0], atol=1e-6)
    both = np.concatenate(cosines)
    assert np.any(both < 0) and np.any(both > 0)


def test_clip_scores_clamps_negative_cosines_to_zero():
    image = np.array([[1.0, 0.0], [1.0, 0.0], [3.0, 4.0]])
    text = np.array([[-2.0, 0.0], [1.0, 1.0], [3.0, 4.0]])
    np.testing.assert_allclose(clip_scores(image, text), [0.0, 2.5 / np.sqrt(2), 2.5])


def test_long_prompts_are_truncated_to_77_tokens_with_a_warning(extractor, caplog):
    head = " ".join(["red circle"] * 40)  # 80 words: past 75 tokens between start and end
    prompts = ["a cat", head, head + " and a blue dog"]
    with caplog.at_level(logging.WARNING, logger="genlab.metrics.clip"):
        result = clip_score(_images(3), prompts, extractor=extractor, resamples=50)
    assert result.truncated == (1, 2)
    assert "2 of 3 prompts are longer than CLIP's 77 tokens" in caplog.text
    # Both long prompts are cut to the same 77 tokens, so they embed alike.
    texts, _ = extractor.text_features(prompts[1:])
    np.testing.assert_allclose(texts[0], texts[1], atol=1e-6)


def test_single_pair_has_no_interval_and_mismatched_lengths_are_refused(extractor):
    assert clip_score(_images(1), ["a cat"], extractor=extractor).ci is None
    with pytest.raises(InvalidRequest, match="one prompt per image"):
        clip_score(_images(2), ["a cat"], extractor=extractor)


def test_hub_cache_entry_is_found_by_its_standard_id(clip_dir, empty_hub_cache):
    # The Hugging Face cache layout: models--org--name/{refs/main, snapshots/<commit>/...}.
    repo = empty_hub_cache / "models--openai--clip-vit-base-patch32"
    commit = "0" * 40
    shutil.copytree(clip_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    loaded = clip.load(None, "cpu")
    assert loaded.source == "openai/clip-vit-base-patch32"
    assert loaded.features(_images(2)).shape == (2, PROJECTION_DIM)


def test_absent_weights_give_one_line_naming_what_was_searched(empty_hub_cache):
    with pytest.raises(ModelLoadError) as info:
        clip.load(None, "cpu")
    message = str(info.value)
    assert "\n" not in message and "--weights DIR" in message
    assert all(repo_id in message for repo_id in clip.HUB_IDS)
    assert str(empty_hub_cache) in message


def test_folders_that_are_not_clip_are_refused(tmp_path, clip_dir, empty_hub_cache):
    with pytest.raises(ModelLoadError, match=r"has no config\.json"):
        clip.load(tmp_path, "cpu")
    with pytest.raises(ModelLoadError, match="neither a folder nor a model"):
        clip.load(tmp_path / "missing", "cpu")
    partial = tmp_path / "partial"
    shutil.copytree(clip_dir, partial)
    (partial / "preprocessor_config.json").unlink()
    with pytest.raises(ModelLoadError, match="incomplete"):
        clip.load(partial, "cpu")


def _real_clip() -> str | None:
    return next((r for r in clip.HUB_IDS if clip._cached_config(r) is not None), None)


@pytest.mark.weights
@pytest.mark.skipif(_real_clip() is None, reason="no CLIP model in the Hugging Face cache")
def test_real_clip_prefers_the_matching_prompt():
    extractor = clip.load(None, "cpu")
    red = Image.new("RGB", (224, 224), (220, 20, 20))
    blue = Image.new("RGB", (224, 224), (20, 20, 220))
    result = clip_score(
        [red, red, blue, blue],
        ["a red square", "a blue square", "a red square", "a blue square"],
        extractor=extractor,
    )
    assert np.all(np.isfinite(result.scores))
    assert result.scores[0] > result.scores[1] and result.scores[3] > result.scores[2]
