"""Vision families beyond Qwen through the real host: Load MLLM -> Refine Prompt with an image (tiny
random-weight Gemma 3, InternVL and Mistral 3 in the real folder layout under models/LLM)."""

import pytest
import torch

FAMILIES = {"gemma3": "gemma3", "internvl": "internvl", "mistral3": "mistral3"}


def node(comfy_host, node_id):
    return comfy_host.NODE_CLASS_MAPPINGS[node_id]()


def picture(rgb, size=(48, 64)):
    return torch.tensor(rgb, dtype=torch.float32).expand(1, *size, 3).clone()


def vision_tower(model: torch.nn.Module) -> torch.nn.Module:
    return next(module for name, module in model.named_modules() if name.endswith(("vision_tower", "visual")))


@pytest.mark.parametrize("kind", sorted(FAMILIES))
def test_load_mllm_then_refine_prompt_with_an_image(comfy_host, tiny, kind):
    (mllm,) = node(comfy_host, "GenAssist_LoadMLLM").load(getattr(tiny, kind)(), "auto", "none", False, False)
    assert mllm.family == FAMILIES[kind]
    seen = []  # the pixel batches the vision tower encoded
    hook = vision_tower(mllm.backend.module).register_forward_hook(
        lambda module, args, kwargs, out: seen.append(args[0] if args else kwargs["pixel_values"]), with_kwargs=True)
    try:
        refine = node(comfy_host, "GenAssist_RefinePrompt").refine
        args = (mllm, "similar_image", "", 7, 6, 0.0)
        first = refine(*args, image=picture((1.0, 0.0, 0.0)))
        assert len(seen) == 1  # the picture went through the vision tower once per answer
        assert len(first[0]) == 1 and first == refine(*args, image=picture((1.0, 0.0, 0.0)))
        refine(*args, image=picture((0.0, 0.0, 1.0)))
    finally:
        hook.remove()
    red, again, blue = seen
    assert torch.equal(red, again) and not torch.equal(red, blue)
