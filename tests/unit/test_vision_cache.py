"""The same image asked about again does not run the vision tower again; answers are unchanged."""

import numpy as np
import pytest
import torch
from PIL import Image

from genassist.mllm.backend import GenerationSettings, Message
from genassist.mllm.vision_cache import FeatureCache, inputs_key
from genassist.segmentation.lisa import load_lisa
from tiny_models import lisa as tiny_lisa

GREEDY = GenerationSettings(max_new_tokens=6, temperature=0.0, seed=0)


def picture(seed):
    return Image.fromarray((np.random.RandomState(seed).rand(48, 64, 3) * 255).astype(np.uint8))


def count_calls(module):
    calls = []
    module.register_forward_hook(lambda *args: calls.append(1))
    return calls


def ask(backend, image, text="Describe the picture."):
    return backend.generate([Message("user", text, [image])], GREEDY)


def hf_vision_tower(model):
    inner = getattr(model, "model", model)
    return getattr(inner, "visual", None) or model.visual


@pytest.mark.parametrize("which", ["qwen", "llmga"])
def test_second_call_on_the_same_image_skips_the_vision_tower(which, request):
    backend = request.getfixturevalue(which)
    tower = backend.model.vision_tower if which == "llmga" else hf_vision_tower(backend.model)
    calls = count_calls(tower)
    first = ask(backend, picture(1))
    assert len(calls) == 1
    again = ask(backend, picture(1), "What is in it?")  # other question, same image
    assert len(calls) == 1, "the vision tower ran again for the same image"
    assert ask(backend, picture(1)) == first
    ask(backend, picture(2))
    assert len(calls) == 2, "a different image must be encoded"
    assert isinstance(again, str)


def test_cached_answer_equals_an_uncached_one(llmga):
    first = ask(llmga, picture(3))
    llmga.model.feature_cache.clear()
    assert ask(llmga, picture(3)) == first


def test_lisa_reuses_clip_features_across_queries(tiny, models_dir):
    model = load_lisa(str(models_dir / "LLM" / tiny.lisa()), str(models_dir / "LLM" / tiny_lisa.CLIP_NAME))
    calls = count_calls(model.llava.vision_tower)
    settings = GenerationSettings(max_new_tokens=4, temperature=0.0)
    first = model.segment(picture(4), "the sky", settings)
    second = model.segment(picture(4), "the sky", settings)
    assert len(calls) == 1
    assert first.answer == second.answer and torch.equal(first.logits, second.logits)


def test_lru_keeps_the_last_images_and_keys_on_exact_inputs():
    cache = FeatureCache(2)
    for key in ("a", "b", "a", "c"):
        cache.get_or_compute(key, lambda key=key: key)
    assert len(cache) == 2 and cache.encoder_passes == 3
    cache.get_or_compute("a", lambda: "again")  # kept: the most recently used two are a and c
    assert cache.encoder_passes == 3
    assert cache.get_or_compute("b", lambda: "b again") == "b again" and cache.encoder_passes == 4  # evicted
    x = torch.zeros(2, 3)
    assert inputs_key(x) == inputs_key(x.clone()) != inputs_key(x.double())
    assert inputs_key(x) != inputs_key(torch.ones(2, 3))
