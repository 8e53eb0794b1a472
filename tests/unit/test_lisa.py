"""LISA in its released layout: strict loading, the [SEG] hidden-state position, prompt, masks."""

import numpy as np
import pytest
import torch
from PIL import Image

from genassist.mllm.backend import GenerationSettings
from genassist.mllm.image_tokens import IMAGE_TOKEN_INDEX, splice_image_features
from genassist.segmentation.lisa import lisa_question, load_lisa, seg_hidden_positions, seg_token_id
from tiny_models import lisa as tiny_lisa

SEG = 900


@pytest.fixture(scope="module")
def folders(tiny, models_dir):
    name = tiny.lisa()
    return str(models_dir / "LLM" / name), str(models_dir / "LLM" / tiny_lisa.CLIP_NAME)


@pytest.fixture(scope="module")
def model(folders):
    return load_lisa(*folders)


def picture(width=300, height=200, seed=0):
    return Image.fromarray((np.random.RandomState(seed).rand(height, width, 3) * 255).astype(np.uint8))


def test_seg_position_is_the_token_before_seg_after_the_image_offset():
    """Planted values: hidden state j holds j, so the selected values are the selected positions."""
    ids = torch.tensor([1, 5, IMAGE_TOKEN_INDEX, 7, 8, SEG, 9, SEG])
    features = torch.zeros(256, 1)
    embed = torch.nn.Embedding(1000, 1)
    _, index_map = splice_image_features(ids, embed, [features])
    hidden = torch.arange(len(ids) - 1 + 256, dtype=torch.float32)  # expanded length: T - 1 + 256
    picked = hidden[seg_hidden_positions(ids, index_map, SEG)]
    # LISA: mask = [255 x False] + (ids[1:] == SEG); [SEG] at 5 and 7 -> hidden positions 5 + 254, 7 + 254
    reference = torch.cat([torch.zeros(255, dtype=torch.bool), ids[1:] == SEG]).nonzero().flatten()
    assert picked.tolist() == [259.0, 261.0] == reference.float().tolist()


def test_question_uses_lisas_trained_forms():
    assert lisa_question("the object people sit on") == "the object people sit on. Please output segmentation mask."
    assert lisa_question("What can I sit on?", explain=True).endswith("Please output segmentation mask and explain why.")
    assert lisa_question("Segment it. Please output segmentation mask.") == "Segment it. Please output segmentation mask."
    with pytest.raises(ValueError, match="empty"):
        lisa_question("  ")


def test_seg_id_comes_from_the_tokenizer(model):
    assert model.seg_id == seg_token_id(model.tokenizer) == model.tokenizer.convert_tokens_to_ids("[SEG]")
    from transformers import AutoTokenizer

    plain = AutoTokenizer.from_pretrained(str(tiny_lisa.tokenizer_dir()))
    with pytest.raises(ValueError, match="no single \\[SEG\\] token"):
        seg_token_id(plain)


def test_released_layout_loads_strictly(model, folders):
    from safetensors.torch import load_file

    state = load_file(folders[0] + "/model.safetensors")
    assert not any("vision_tower" in k for k in state)  # CLIP comes from its own folder, as released
    assert {k.split(".")[1] for k in state if k.startswith("model.") and "layers" not in k} >= {
        "mm_projector", "visual_model", "text_hidden_fcs", "embed_tokens"}
    sam_keys = {k.removeprefix("model.visual_model.") for k in state if k.startswith("model.visual_model.")}
    assert sam_keys == set(model.visual_model.state_dict())
    assert model.llava.spec.image_size == 224 and model.llava.spec.image_mode == "crop"
    assert model.llava.spec.use_im_start_end and model.llava.spec.template == "llava_v1"
    assert model.image_features(picture()).shape == (256, tiny_lisa.HIDDEN)


def test_unexpected_or_missing_weights_are_refused(folders, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    for change in ("extra", "missing"):
        copy = tmp_path / change
        shutil.copytree(folders[0], copy)
        state = load_file(str(copy / "model.safetensors"))
        if change == "extra":
            state["model.some_new_head.weight"] = torch.zeros(2)
        else:
            del state["model.visual_model.mask_decoder.iou_token.weight"]
        save_file(state, str(copy / "model.safetensors"))
        with pytest.raises((ValueError, RuntimeError), match="unexpected weights|Missing key"):
            load_lisa(str(copy), folders[1])


def test_prompt_is_llava_v1_with_image_markers(model):
    tok = model.tokenizer
    text = tok.decode([t for t in model.prompt_ids("the chair").tolist() if t >= 0])
    assert text.startswith("<s> A chat between a curious human and an artificial intelligence")
    assert text.endswith("USER: <im_start> <im_end> the chair. Please output segmentation mask. ASSISTANT:")
    ids = model.prompt_ids("the chair")
    end = tok.convert_tokens_to_ids("<im_end>")
    after = ids.tolist()[ids.tolist().index(end):]
    assert after[:2] == [end, tok.sp.piece_to_id("▁the")], "LISA's tokenizer eats the newline after <im_end>"
    start = model.tokenizer.convert_tokens_to_ids("<im_start>")
    position = (ids == IMAGE_TOKEN_INDEX).nonzero().item()
    assert ids[position - 1] == start


def test_segment_feeds_the_hidden_state_before_seg_to_sam(model, monkeypatch):
    """Planted hidden states (row j = j) through the real generate/splice/select path."""
    seen = {}

    def planted(embeds):
        seen["length"] = embeds.shape[0]
        return torch.arange(embeds.shape[0], dtype=torch.float32).unsqueeze(1).expand(-1, tiny_lisa.HIDDEN)

    def record(module, args):
        seen["rows"] = args[0][:, 0].tolist()

    monkeypatch.setattr(model, "last_hidden_states", planted)
    hook = model.text_hidden_fcs[0].register_forward_pre_hook(record)
    try:
        result = model.segment(picture(), "the object people sit on",
                               GenerationSettings(max_new_tokens=4, temperature=0))
    finally:
        hook.remove()
    prompt = model.prompt_ids("the object people sit on")
    seg_index = len(prompt)  # the answer is "[SEG]" right after the prompt
    assert result.answer == "[SEG]"
    # prompt + "[SEG]" + end-of-text, the image placeholder expanded to 256 positions
    assert seen["length"] == len(prompt) + 2 + 255
    assert seen["rows"] == [float(seg_index + 255 - 1)]


def test_tiny_lisa_gives_a_mask_of_the_image_size(model):
    image = picture(width=317, height=149, seed=5)
    result = model.segment(image, "the object people sit on", GenerationSettings(max_new_tokens=8, temperature=0))
    assert result.answer == "[SEG]"
    assert result.logits.shape == (1, 149, 317)
    assert 0.0 < (result.logits > 0).float().mean() < 1.0
    passes = model.sam_cache.encoder_passes
    again = model.segment(image, "something else", GenerationSettings(max_new_tokens=8, temperature=0))
    assert model.sam_cache.encoder_passes == passes and again.logits.shape == (1, 149, 317)


def test_quantization_touches_only_the_language_model(folders):
    """As LISA's llm_int8_skip_modules=['visual_model']: SAM (and the [SEG] head, projector, CLIP, lm_head)
    keep their weights; every decoder Linear is replaced."""
    from genassist.segmentation.lisa_quant import quantizable_linears, quantize_language_model

    model = load_lisa(*folders)
    names = quantizable_linears(model)
    assert len(names) == 2 * 7  # 2 layers x (q, k, v, o, gate, up, down)
    assert not any(k in n for n in names for k in ("visual_model", "text_hidden_fcs", "projector", "vision_tower",
                                                     "lm_head"))
    sam_before = {k: v.clone() for k, v in model.visual_model.state_dict().items()}

    class Marked(torch.nn.Linear):
        pass

    def mark(linear):
        new = Marked(linear.in_features, linear.out_features, bias=linear.bias is not None)
        new.load_state_dict(linear.state_dict())
        return new

    assert quantize_language_model(model, "8bit", torch.device("cpu"), replacement=mark) == len(names)
    assert all(isinstance(model.get_submodule(n), Marked) for n in names)
    assert sum(isinstance(m, Marked) for m in model.modules()) == len(names)
    assert all(torch.equal(v, sam_before[k]) for k, v in model.visual_model.state_dict().items())
    with pytest.raises(RuntimeError, match="CUDA GPUs only"):
        quantize_language_model(model, "4bit", torch.device("cpu"))
