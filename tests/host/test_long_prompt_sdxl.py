"""GenAssist_LongPromptEncode on an SDXL-layout CLIP (tiny clip_l + clip_g) and on a non-CLIP layout."""

import pytest
import torch
from test_long_prompt import LONG, SHORT, core_encode

from harness.inprocess import node
from tiny_models import sdxl_clip

L_DIM = sdxl_clip.CLIP_L_CONFIG["hidden_size"]
G_DIM = sdxl_clip.CLIP_G_CONFIG["hidden_size"]


@pytest.fixture(scope="module")
def clip(comfy_host, models_dir):
    return sdxl_clip.load(models_dir)


@pytest.fixture(scope="module")
def encoder(comfy_host):
    return node(comfy_host, "GenAssist_LongPromptEncode")


def content(clip, text, key):
    return [(t, w) for row in clip.tokenize(text, return_word_ids=True, disable_weights=True)[key]
            for t, w, word in row if word != 0]


def test_loaded_as_sdxl_encoder(clip):
    import comfy.sdxl_clip

    assert isinstance(clip.cond_stage_model, comfy.sdxl_clip.SDXLClipModel)
    assert sorted(clip.tokenize("x")) == ["g", "l"]


@pytest.mark.parametrize("strategy", ["sentence", "native"])
def test_short_prompt_matches_core(comfy_host, clip, encoder, strategy):
    expected = core_encode(comfy_host, clip, SHORT)
    (cond, extras), = encoder(clip, SHORT, strategy, 4, "auto")[0]
    assert cond.shape == (1, 77, L_DIM + G_DIM)
    assert torch.equal(cond, expected[0][0])
    assert torch.equal(extras["pooled_output"], expected[0][1]["pooled_output"])


def test_llmga_short_prompt_uses_llmga_padding_for_clip_g(comfy_host, clip, encoder):
    """LLMGA pads clip_g with 0 *before* a final EOS, so its pooled vector is read at position 76; the
    text positions are unchanged (causal attention), the padding positions differ."""
    n = len(content(clip, SHORT, "g"))
    expected = core_encode(comfy_host, clip, SHORT)[0]
    (cond, extras), = encoder(clip, SHORT, "llmga", 4, "auto")[0]
    assert cond.shape == (1, 77, L_DIM + G_DIM)
    assert torch.equal(cond[:, :n + 1], expected[0][:, :n + 1])
    assert torch.equal(cond[:, :, :L_DIM], expected[0][:, :, :L_DIM])  # clip_l pads with EOS anyway
    assert not torch.allclose(cond[:, n + 2:, L_DIM:], expected[0][:, n + 2:, L_DIM:])
    row = [(49406, 1.0)] + content(clip, SHORT, "g") + [(0, 1.0)] * (75 - n) + [(49407, 1.0)]
    _, pooled = clip.cond_stage_model.clip_g.encode_token_weights([row])
    assert torch.allclose(extras["pooled_output"], pooled, atol=1e-5)


def test_llmga_long_prompt_penultimate_layers_and_last_pooled(clip, encoder):
    tokens = content(clip, LONG, "g")
    k = -(-len(tokens) // 75)
    conditioning, report = encoder(clip, LONG, "llmga", 4, "auto")
    (cond, extras), = conditioning
    assert cond.shape == (1, 75 * k + 2, L_DIM + G_DIM)
    assert extras["pooled_output"].shape == (1, G_DIM)
    # window 2 alone through core's SDXL encoder (penultimate layers of l and g): positions 1..75 kept
    window = [(49406, 1.0)] + tokens[75:150] + [(49407, 1.0)]
    direct = clip.encode_from_tokens({"g": [window], "l": [window]})
    assert torch.allclose(cond[:, 76:151], direct[:, 1:76], atol=1e-5)
    last = tokens[75 * (k - 1):]
    row = [(49406, 1.0)] + last + [(0, 1.0)] * (75 - len(last)) + [(49407, 1.0)]
    _, pooled = clip.cond_stage_model.clip_g.encode_token_weights([row])
    assert torch.allclose(extras["pooled_output"], pooled, atol=1e-5)
    assert "dropped: nothing" in report


def test_sentence_long_prompt_and_size_conditioning(clip, encoder):
    (cond, extras), = encoder(clip, LONG, "sentence", 8, "auto", width=1024, height=768)[0]
    assert cond.shape[1] % 77 == 0 and cond.shape[1] >= 77 * 4
    assert cond.shape[2] == L_DIM + G_DIM
    assert (extras["width"], extras["height"], extras["target_width"], extras["target_height"]) == (1024, 768, 1024, 768)
    assert (extras["crop_w"], extras["crop_h"]) == (0, 0)


def test_non_clip_text_encoder_passes_through_to_native(comfy_host, models_dir, encoder):
    """SD3's text encoder (here clip_l + clip_g, no T5) has a 't5xxl' stream: no windowing, core encode."""
    sd3 = sdxl_clip.load(models_dir, family="sd3")
    assert "t5xxl" in sd3.tokenize("x")
    conditioning, report = encoder(sd3, LONG, "llmga", 4, "auto")
    expected = core_encode(comfy_host, sd3, LONG)
    assert torch.equal(conditioning[0][0], expected[0][0])
    assert "not a 77-token-window CLIP encoder" in report and "encoded natively" in report
