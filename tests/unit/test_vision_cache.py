"""The same image asked about again does not run the vision tower again; answers are unchanged."""

import numpy as np
import pytest
import torch
from PIL import Image

from genassist.mllm.backend import GenerationSettings, Message
from genassist.mllm.vision_cache import FeatureCache, cache_image_features
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
    clear_features(backend)
    assert ask(backend, picture(1), "What is in it?") == again  # the cached features gave the uncached answer


def clear_features(backend) -> None:
    model = backend.model  # LLaVA keeps its own; a transformers VLM's is found again by cache_image_features
    (model.feature_cache if hasattr(model, "feature_cache") else cache_image_features(model)).clear()


def test_cached_answer_equals_an_uncached_one(llmga):
    uncached = ask(llmga, picture(3))
    calls = count_calls(llmga.model.vision_tower)
    cached = ask(llmga, picture(3), "What is in it?")  # features from the cache
    assert len(calls) == 0
    llmga.model.feature_cache.clear()
    assert ask(llmga, picture(3), "What is in it?") == cached and len(calls) == 1
    assert ask(llmga, picture(3)) == uncached


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


def passes_for(cache, *calls):
    """Encoder passes after asking the cache with each (args, kwargs) in turn (as encoders run: no grad)."""
    with torch.inference_mode():
        for args, kwargs in calls:
            cache.get_or_compute_inputs(args, kwargs, lambda: object())
    return cache.encoder_passes


def test_with_gradients_on_nothing_is_shared():
    x, cache = torch.zeros(2, 3), FeatureCache()
    for _ in range(2):
        cache.get_or_compute_inputs((x,), {}, lambda: object())
    assert (cache.encoder_passes, len(cache)) == (2, 0)


def test_only_bit_identical_tensors_share_an_entry():
    x = torch.zeros(2, 3)
    assert passes_for(FeatureCache(), ((x,), {}), ((x.clone(),), {})) == 1
    assert passes_for(FeatureCache(), ((x,), {}), ((x.double(),), {})) == 2
    assert passes_for(FeatureCache(), ((x,), {}), ((torch.ones(2, 3),), {})) == 2
    assert passes_for(FeatureCache(), ((x,), {}), ((-x,), {})) == 2  # -0.0 is other bits
    nan = torch.full((2, 3), float("nan"))
    assert passes_for(FeatureCache(), ((nan,), {}), ((nan.clone(),), {})) == 1
    assert passes_for(FeatureCache(), ((x,), {"layer": -2}), ((x,), {"layer": -1})) == 2


def test_one_changed_value_in_a_large_tensor_inside_a_list_is_another_image():
    """A tensor's repr elides the middle of a large one: a key made of reprs would confuse these two."""
    a = torch.zeros(1, 3, 64, 64)
    b = a.clone()
    b[0, 1, 32, 32] = 1.0
    assert str([a]) == str([b])
    assert passes_for(FeatureCache(), (([a],), {}), (([b],), {})) == 2
    assert passes_for(FeatureCache(), ((), {"pixel_values": {"image": a}}), ((), {"pixel_values": {"image": b}})) == 2


@torch.inference_mode()
def test_the_caller_changing_its_tensor_afterwards_does_not_change_the_entry():
    x = torch.zeros(4)
    cache = FeatureCache()
    cache.get_or_compute_inputs((x,), {}, lambda: "zeros")
    x += 1  # in place, after the call
    assert cache.get_or_compute_inputs((x,), {}, lambda: "ones") == "ones"
    assert cache.get_or_compute_inputs((torch.zeros(4),), {}, lambda: "again") == "zeros"


def test_an_argument_whose_repr_hides_its_content_is_never_cached():
    class Pixels:
        def __init__(self, value):
            self.value = value

        def __repr__(self):
            return "Pixels()"

    assert passes_for(FeatureCache(), ((Pixels(0),), {}), ((Pixels(1),), {})) == 2


def test_inputs_are_compared_where_they_are_without_a_host_copy(monkeypatch):
    """On a GPU a copy to the host per call is what the cache must not cost; the same holds on the CPU."""
    def refuse(*args, **kwargs):
        raise AssertionError("the cache copied an encoder input to the host")

    x = torch.rand(1, 3, 32, 32)
    monkeypatch.setattr(torch.Tensor, "numpy", refuse)
    monkeypatch.setattr(torch.Tensor, "cpu", refuse)
    monkeypatch.setattr(torch.Tensor, "tolist", refuse)
    assert passes_for(FeatureCache(), ((x,), {}), ((x.clone(),), {})) == 1
