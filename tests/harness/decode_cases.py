"""The three local decoding backends as (model, tokenizer, generate inputs), and the two ways of decoding
them: plain ``model.generate`` (the reference) and the pack's ``run_generate`` on a given path."""

import torch

from genassist.mllm.backend import GenerationSettings, Message
from genassist.mllm.decoding import DecodeHooks, run_generate

TOKENS = 12
GREEDY = GenerationSettings(max_new_tokens=TOKENS, temperature=0.0, seed=0)
BACKENDS = ("qwen", "llmga", "lisa")


def plain_ids(model, **inputs) -> list[int]:
    """What model.generate alone answers greedily (EOS off, so every run decodes TOKENS tokens)."""
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=TOKENS, do_sample=False, num_beams=1, temperature=None,
                             top_p=None, top_k=None, eos_token_id=None, pad_token_id=0)
    start = inputs["input_ids"].shape[1] if "input_ids" in inputs else 0
    return out[0, start:].tolist()


def our_ids(model, tokenizer, mode, settings=GREEDY, **inputs) -> list[int]:
    hooks = DecodeHooks(tokenizer, None, None, [])
    run_generate(model, tokenizer, settings, hooks, [], mode, **inputs)
    return hooks.ids


def hf_inputs(qwen, image):
    return qwen.prepare([Message("user", "Describe the picture.", [image] if image else [])])


def legacy_inputs(llmga, image):
    _, ids, images = llmga.prepare([Message("user", "Describe the picture.", [image] if image else [])])
    with torch.inference_mode():
        embeds, _ = llmga.model.embed(torch.tensor(ids), images)
    return dict(inputs_embeds=embeds, attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long))


def lisa_inputs(lisa, image):
    from genassist.mllm.image_tokens import splice_image_features

    ids = lisa.prompt_ids("the red thing")
    embed_tokens = lisa.llava.language_model.get_input_embeddings()
    with torch.inference_mode():
        features = [lisa.image_features(image)] if image else []
        if not image:
            ids = ids[ids >= 0]
        embeds, _ = splice_image_features(ids, embed_tokens, features)
    return dict(inputs_embeds=embeds.unsqueeze(0), attention_mask=torch.ones(1, embeds.shape[0], dtype=torch.long))


def backend_case(name, request, image):
    """(language model, tokenizer, generate inputs) of a backend fixture: qwen, llmga or lisa."""
    if name == "qwen":
        backend = request.getfixturevalue("qwen")
        return backend.model, backend.tokenizer, hf_inputs(backend, image)
    if name == "llmga":
        backend = request.getfixturevalue("llmga")
        return backend.model.language_model, backend.tokenizer, legacy_inputs(backend, image)
    model = request.getfixturevalue("lisa")
    return model.llava.language_model, model.tokenizer, lisa_inputs(model, image)
