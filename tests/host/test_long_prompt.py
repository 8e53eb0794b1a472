"""GenAssist_LongPromptEncode through the real node classes, with the real CLIP of the tiny SD1.5 checkpoint."""

import re

import pytest
import torch

from harness.inprocess import node
from harness.sample_text import SENTENCES as ALL_SENTENCES

SHORT = "a photo of a red fox sitting in tall grass at sunset, golden light, shallow depth of field"
SENTENCES = ALL_SENTENCES[:14]
LONG = " ".join(SENTENCES)  # about 230 CLIP tokens


@pytest.fixture(scope="module")
def clip(comfy_host, tiny):
    name = tiny.sd15()
    _, clip, _ = node(comfy_host, "CheckpointLoaderSimple")(name)
    return clip


@pytest.fixture(scope="module")
def encoder(comfy_host):
    return node(comfy_host, "GenAssist_LongPromptEncode")


def core_encode(comfy_host, clip, text):
    return node(comfy_host, "CLIPTextEncode")(clip=clip, text=text)[0]


def encode(encoder, clip, text, strategy, max_chunks=4, pooled="auto", **kw):
    return encoder(clip, text, strategy, max_chunks, pooled, **kw)


def content_count(clip, text):
    return sum(1 for row in clip.tokenize(text, return_word_ids=True)["l"] for *_, word in row if word != 0)


@pytest.mark.parametrize("strategy", ["sentence", "llmga", "native"])
@pytest.mark.parametrize("text", [SHORT, "", "One sentence. Then another one, with a clause!"])
def test_short_prompt_is_bitwise_core(comfy_host, clip, encoder, strategy, text):
    assert content_count(clip, text) <= 75
    expected = core_encode(comfy_host, clip, text)
    got, report = encode(encoder, clip, text, strategy)
    assert len(got) == len(expected) == 1
    assert torch.equal(got[0][0], expected[0][0]), report
    assert got[0][0].shape == (1, 77, 768)
    assert torch.equal(got[0][1]["pooled_output"], expected[0][1]["pooled_output"])
    assert "dropped: nothing" in report


def test_llmga_keeps_every_token_and_trims_to_75k_plus_2(clip, encoder):
    n = content_count(clip, LONG)
    assert 200 <= n <= 300, n  # a ~230-token prompt fits LLMGA's 4 windows
    (cond, extras), = encode(encoder, clip, LONG, "llmga")[0]
    k = -(-n // 75)
    assert cond.shape == (1, 75 * k + 2, 768)
    report = encode(encoder, clip, LONG, "llmga")[1]
    assert f"tokens: {n} in prompt, {n} encoded" in report
    assert "dropped: nothing" in report
    assert f"sequence: {75 * k + 2} positions" in report


def test_llmga_windows_match_a_direct_encode_of_each_window(clip, encoder):
    """Each 75-token slice, encoded alone as BOS+slice+EOS, is what ends up in the trimmed sequence."""
    tokens = clip.tokenize(LONG, return_word_ids=True, disable_weights=True)["l"]
    content = [(t, w) for row in tokens for t, w, word in row if word != 0]
    (cond, extras), = encode(encoder, clip, LONG, "llmga", pooled="first window")[0]
    start, end = (49406, 1.0), (49407, 1.0)
    first = clip.encode_from_tokens({"l": [[start] + content[:75] + [end]]}, return_pooled=True)
    second = clip.encode_from_tokens({"l": [[start] + content[75:150] + [end]]})
    assert torch.allclose(cond[:, :76], first[0][:, :76], atol=1e-5)  # BOS + 75 tokens, inner EOS dropped
    assert torch.allclose(cond[:, 76:151], second[:, 1:76], atol=1e-5)  # inner BOS and EOS dropped
    assert torch.allclose(extras["pooled_output"], first[1], atol=1e-5)


def test_llmga_pooled_auto_is_last_window(clip, encoder):
    tokens = clip.tokenize(LONG, return_word_ids=True, disable_weights=True)["l"]
    content = [(t, w) for row in tokens for t, w, word in row if word != 0]
    k = -(-len(content) // 75)
    last = content[75 * (k - 1):]
    row = [(49406, 1.0)] + last + [(49407, 1.0)] * (76 - len(last))
    _, pooled = clip.encode_from_tokens({"l": [row]}, return_pooled=True)
    (cond, extras), = encode(encoder, clip, LONG, "llmga")[0]
    assert torch.allclose(extras["pooled_output"], pooled, atol=1e-5)
    (_, first_extras), = encode(encoder, clip, LONG, "llmga", pooled="first window")[0]
    assert not torch.allclose(first_extras["pooled_output"], pooled, atol=1e-3)


def test_llmga_beyond_max_chunks_is_named(clip, encoder):
    long = LONG + " " + LONG
    n = content_count(clip, long)
    (cond, _), = encode(encoder, clip, long, "llmga", max_chunks=4)[0]
    assert cond.shape[1] == 302
    report = encode(encoder, clip, long, "llmga", max_chunks=4)[1]
    assert f"dropped: tokens 301-{n} ({n - 300} tokens, beyond max_chunks=4)" in report
    assert "beginning to show overhead.\"" in report  # the text that was cut is quoted


def test_sentence_windows_end_at_sentence_boundaries(clip, encoder):
    (cond, _), = encode(encoder, clip, LONG, "sentence", max_chunks=8)[0]
    report = encode(encoder, clip, LONG, "sentence", max_chunks=8)[1]
    windows = re.findall(r"window \d+: (\d+) tokens, starts at a (\w+) boundary", report)
    assert len(windows) == cond.shape[1] // 77 >= 4
    assert all(cut == "sentence" for _, cut in windows), report
    assert sum(int(n) for n, _ in windows) == content_count(clip, LONG)
    assert "dropped: nothing" in report


def test_sentence_window_is_encoded_alone(clip, encoder, comfy_host):
    """Window 2 of the sentence plan equals core's encoding of exactly those sentences."""
    report = encode(encoder, clip, LONG, "sentence", max_chunks=8)[1]
    (cond, _), = encode(encoder, clip, LONG, "sentence", max_chunks=8)[0]
    sizes = [int(n) for n in re.findall(r"window \d+: (\d+) tokens", report)]
    counts, taken, second = [content_count(clip, s) for s in SENTENCES], 0, []
    for sentence, count in zip(SENTENCES, counts):
        if taken >= sizes[0]:
            second.append(sentence)
        taken += count
    text, total = [], 0
    for sentence in second:
        if total + content_count(clip, sentence) > sizes[1]:
            break
        text.append(sentence)
        total += content_count(clip, sentence)
    expected = core_encode(comfy_host, clip, " ".join(text))[0][0]
    assert torch.allclose(cond[:, 77:154], expected, atol=1e-5)


def test_sentence_drops_whole_windows_beyond_max_chunks(clip, encoder):
    cond, report = encode(encoder, clip, LONG, "sentence", max_chunks=2)
    assert cond[0][0].shape[1] == 154
    assert re.search(r"dropped: \d+ window\(s\), \d+ tokens beyond max_chunks=2", report)


def test_weighting_off_means_literal_parentheses(comfy_host, clip, encoder):
    text = "a cat wearing a (very large:1.5) hat"
    literal, _ = encode(encoder, clip, text, "sentence")
    weighted, _ = encode(encoder, clip, text, "sentence", weighting=True)
    core = core_encode(comfy_host, clip, text)
    assert torch.equal(weighted[0][0], core[0][0])
    assert not torch.equal(literal[0][0], core[0][0])
    assert content_count(clip, text) < sum(
        1 for row in clip.tokenize(text, return_word_ids=True, disable_weights=True)["l"] for *_, w in row if w)


def test_native_on_long_prompt_is_core(comfy_host, clip, encoder):
    got, report = encode(encoder, clip, LONG, "native", pooled="last window")
    assert torch.equal(got[0][0], core_encode(comfy_host, clip, LONG)[0][0])
    assert "native keeps core's choice" in report


def test_size_conditioning_is_refused_for_sd15(clip, encoder):
    got, report = encode(encoder, clip, SHORT, "sentence", width=1024, height=1024)
    assert "width" not in got[0][1]
    assert "size conditioning ignored" in report


def test_none_clip_gives_actionable_error(encoder):
    with pytest.raises(RuntimeError, match="CLIP loader"):
        encode(encoder, None, SHORT, "sentence")


def test_ksampler_with_long_positive_and_short_negative(comfy_host, tiny, encoder):
    nodes = comfy_host.NODE_CLASS_MAPPINGS
    model, clip, vae = nodes["CheckpointLoaderSimple"]().load_checkpoint(tiny.sd15())
    positive, _ = encode(encoder, clip, LONG, "llmga")
    negative, _ = encode(encoder, clip, "blurry, low quality", "sentence")
    assert positive[0][0].shape[1] != negative[0][0].shape[1]
    latent = nodes["EmptyLatentImage"]().generate(64, 64, 1)[0]
    sampled = nodes["KSampler"]().sample(model, 7, 2, 5.0, "euler", "normal", positive, negative, latent)[0]
    image = nodes["VAEDecode"]().decode(vae, sampled)[0]
    assert image.shape == (1, 64, 64, 3)
    assert torch.isfinite(image).all()
    other = nodes["KSampler"]().sample(model, 7, 2, 5.0, "euler", "normal",
                                       encode(encoder, clip, LONG, "sentence")[0], negative, latent)[0]
    assert not torch.equal(sampled["samples"], other["samples"])  # the conditioning reaches the UNet
