"""The local MLLM under ComfyUI's memory manager, in the real registry with a tiny Qwen2.5-VL: its moves are
logged, it comes back after an unload without touching the disk, and out of memory while it generates is
an error that names what to change, after which the next prompt runs."""

import logging

import pytest
import torch

from harness.inprocess import node, pack_module


@pytest.fixture(scope="module")
def mllm(comfy_host, tiny):
    (loaded,) = node(comfy_host, "GenAssist_LoadMLLM")(tiny.qwen25vl(), "fp32", "none", False, False)
    return loaded


def refine(comfy_host, mllm, seed=7):
    image = torch.full((1, 48, 64, 3), 0.5)
    return node(comfy_host, "GenAssist_RefinePrompt")(mllm, "similar_image", "", seed, 12, 0.7, image=image)


def test_offloaded_mllm_comes_back_from_ram_and_the_log_says_when_it_moved(comfy_host, mllm, monkeypatch,
                                                                           caplog):
    import comfy.model_management as mm
    import safetensors
    import safetensors.torch

    module = mllm.patcher.model.inner
    weights = {name: p.data_ptr() for name, p in module.named_parameters()}
    with caplog.at_level(logging.INFO, logger="GenAssist"):
        first = refine(comfy_host, mllm)
        assert f"GenAssist: Qwen2.5-VL-3B-Instruct moved to {mm.get_torch_device()}" in caplog.text
        mm.unload_all_models()  # what the sampler does when it needs the room
        assert "GenAssist: Qwen2.5-VL-3B-Instruct offloaded to cpu" in caplog.text
        assert not any(loaded.model is mllm.patcher for loaded in mm.current_loaded_models)

        def no_disk(*args, **kwargs):
            raise AssertionError("the MLLM was read from disk again")

        for target, name in ((safetensors, "safe_open"), (safetensors.torch, "load_file"), (torch, "load")):
            monkeypatch.setattr(target, name, no_disk)
        caplog.clear()
        again = refine(comfy_host, mllm)
    assert "GenAssist: Qwen2.5-VL-3B-Instruct moved to cpu" in caplog.text
    assert any(loaded.model is mllm.patcher for loaded in mm.current_loaded_models)
    assert mllm.patcher.model.inner is module  # the same module object, its weights the same tensors
    assert {name: p.data_ptr() for name, p in module.named_parameters()} == weights
    assert first == again


def test_out_of_memory_while_generating_names_what_to_change_and_the_next_prompt_runs(comfy_host, mllm,
                                                                                     monkeypatch):
    import comfy.model_management as mm

    real = mllm.backend.generate

    def small_card(*args, **kwargs):
        raise mm.OOM_EXCEPTION("CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total capacity "
                               "of 8.00 GiB of which 1.10 GiB is free.\nlong allocator details")

    monkeypatch.setattr(mllm.backend, "generate", small_card)
    with pytest.raises(Exception) as caught:
        refine(comfy_host, mllm)
    error = caught.value
    text = str(error)
    assert type(error).__name__ == "GenAssistOutOfMemory", repr(error)
    assert "the MLLM Qwen2.5-VL-3B-Instruct" in text and "Tried to allocate 20.00 GiB" in text
    assert "allocator details" not in text  # the first line of torch's message only
    for advice in ("quantization 8bit or 4bit", "a smaller model", "MLLM Server", "--lowvram"):
        assert advice in text
    assert error.__context__ is None and error.__cause__ is None
    assert not any(loaded.model is mllm.patcher for loaded in mm.current_loaded_models), "left on the card"
    monkeypatch.setattr(mllm.backend, "generate", real)
    prompts, _, _ = refine(comfy_host, mllm)
    assert len(prompts) == 1


def test_offloading_releases_the_decoding_cache_recordings_and_image_features(comfy_host, mllm, caplog):
    """The graphs path's KV cache and recorded steps, and the cached image features, leave the GPU with the
    weights, and the next answer records again (a recording must never outlive the weights' addresses)."""
    import comfy.model_management as mm

    static_decode = pack_module(comfy_host, "mllm.static_decode")  # the copies the nodes use
    vision_cache = pack_module(comfy_host, "mllm.vision_cache")
    module = mllm.patcher.model.inner
    mllm.backend.decode_mode = "graphs"
    try:
        refine(comfy_host, mllm, seed=101)  # seeds no other test asks with: not answered from the answer cache
        assert static_decode._HELD[mllm.backend.model].step.recordings
        assert len(vision_cache.cache_image_features(mllm.backend.model)) > 0
        with caplog.at_level(logging.INFO, logger="GenAssist"):
            mm.unload_all_models()
        assert mllm.backend.model not in static_decode._HELD
        assert "GenAssist: Qwen2.5-VL-3B-Instruct's decoding KV cache and cached image features released" \
            in caplog.text
        assert len(vision_cache.cache_image_features(mllm.backend.model)) == 0  # its image features went too
        refine(comfy_host, mllm, seed=102)
        assert static_decode._HELD[mllm.backend.model].step.recordings
    finally:
        mllm.backend.decode_mode = "auto"
        static_decode.release_decode_buffers(module)
