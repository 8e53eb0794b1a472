"""Vision families beyond Qwen through the real host: Load MLLM -> Refine Prompt with an image (tiny
random-weight Gemma 3, InternVL and Mistral 3 in the real folder layout under models/LLM)."""

import sys

import pytest
import torch

from harness.inprocess import node, server_mllm

FAMILIES = {"gemma3": "gemma3", "internvl": "internvl", "mistral3": "mistral3"}


def picture(rgb, size=(48, 64)):
    return torch.tensor(rgb, dtype=torch.float32).expand(1, *size, 3).clone()


def vision_tower(model: torch.nn.Module) -> torch.nn.Module:
    return next(module for name, module in model.named_modules() if name.endswith(("vision_tower", "visual")))


@pytest.mark.parametrize("kind", sorted(FAMILIES))
def test_load_mllm_then_refine_prompt_with_an_image(comfy_host, tiny, kind):
    (mllm,) = node(comfy_host, "GenAssist_LoadMLLM")(getattr(tiny, kind)(), "auto", "none", False, False)
    assert mllm.family == FAMILIES[kind]
    seen = []  # the pixel batches the vision tower encoded
    hook = vision_tower(mllm.backend.module).register_forward_hook(
        lambda module, args, kwargs, out: seen.append(args[0] if args else kwargs["pixel_values"]), with_kwargs=True)
    try:
        refine = node(comfy_host, "GenAssist_RefinePrompt")
        answer_error = sys.modules[refine.node_class.__module__].AnswerError  # the host's copy of the class
        args = (mllm, "similar_image", "", 7, 6, 0.0)

        def outcome(color):  # the prompt, or the error a random model's empty answer gives (seen on CUDA)
            try:
                return refine(*args, image=picture(color))
            except answer_error as error:
                return str(error)

        first = outcome((1.0, 0.0, 0.0))
        assert len(seen) == 1  # the picture went through the vision tower
        assert first == outcome((1.0, 0.0, 0.0))  # greedy: the same answer again ...
        assert len(seen) == 1  # ... from the same image features, kept per model
        outcome((0.0, 0.0, 1.0))
    finally:
        hook.remove()
    red, blue = seen
    assert not torch.equal(red, blue)


@pytest.fixture(scope="module")
def sam_handle(comfy_host, tiny):
    (handle,) = node(comfy_host, "GenAssist_LoadSAM")(tiny.sam(), "auto", False)
    return handle


def segment_with_answer(comfy_host, sam_handle, box_format, reply, image):
    from harness.openai_server import ScriptedOpenAIServer

    with ScriptedOpenAIServer(reply) as server:
        mllm = server_mllm(comfy_host, server, stream=False)
        (segmenter,) = node(comfy_host, "GenAssist_GroundedSegmenter")(mllm, sam_handle, box_format, 512, 0)
        mask, explanation, _ = node(comfy_host, "GenAssist_Segment")(segmenter, image, "the cat", "union",
                                                                             0, 0)
    return mask, explanation


def test_native_box_syntaxes_give_the_same_mask_as_pixels(comfy_host, sam_handle):
    image = torch.rand(1, 96, 160, 3, generator=torch.Generator().manual_seed(0))
    # the box (20, 24, 100, 72) on 160x96, in pixels, Gemma's <loc> bins (of 1024) and InternVL's 0-1000
    reference, _ = segment_with_answer(comfy_host, sam_handle, "pixels",
                                       '{"objects": [{"label": "cat", "box": [20, 24, 100, 72]}]}', image)
    assert 0 < reference.mean() < 1
    for box_format, reply in (("loc1024", "<loc0256><loc0128><loc0768><loc0640> cat"),
                              ("internvl", "<ref>cat</ref><box>[[125, 250, 625, 750]]</box>")):
        mask, explanation = segment_with_answer(comfy_host, sam_handle, box_format, reply, image)
        assert torch.equal(mask, reference) and "cat" in explanation


def test_local_gemma_grounds_in_its_own_convention(comfy_host, tiny, sam_handle):
    (mllm,) = node(comfy_host, "GenAssist_LoadMLLM")(tiny.gemma3(), "auto", "none", False, False)
    (segmenter,) = node(comfy_host, "GenAssist_GroundedSegmenter")(mllm, sam_handle, "auto", 64, 0)
    assert segmenter.convention == "loc1024"
    mask, explanation, _ = node(comfy_host, "GenAssist_Segment")(segmenter, picture((1.0, 0.0, 0.0)),
                                                                         "the red thing", "union", 0, 0)
    # random weights answer no boxes: an empty mask and the reason, never an exception
    assert mask.shape == (1, 48, 64) and torch.count_nonzero(mask) == 0 and explanation.startswith("Nothing")
