"""The static-KV-cache and compiled decoding paths give the same greedy tokens as plain model.generate for
every local backend (tiny random-weight models, CPU, fp32), with and without an image; the path choice,
its fallback and the incremental streamer."""

import logging

import pytest
import torch
from PIL import Image

from genassist.mllm import decode_plan
from genassist.mllm.backend import Message
from genassist.mllm.decoding import DecodeHooks, prompt_length
from harness.decode_cases import GREEDY, TOKENS, backend_case, lisa_inputs, our_ids, plain_ids

RED = Image.new("RGB", (40, 30), (200, 10, 10))


@pytest.mark.parametrize("image", [RED, None], ids=["image", "text"])
@pytest.mark.parametrize("name", ["qwen", "llmga", "lisa"])
def test_static_path_is_token_identical_to_plain_generate(name, image, request, caplog):
    model, tokenizer, inputs = backend_case(name, request, image)
    expected = plain_ids(model, **inputs)
    assert len(expected) == TOKENS
    with caplog.at_level(logging.INFO, logger="genassist.mllm.decode_plan"):
        assert our_ids(model, tokenizer, "static", **inputs) == expected
    assert our_ids(model, tokenizer, "eager", **inputs) == expected
    size = decode_plan.cache_bucket(prompt_length(inputs) + TOKENS)
    assert any(f"static path (asked for, KV cache {size} tokens)" in r.getMessage() for r in caplog.records)


def static_path_logged(caplog) -> bool:
    return any(" on the static path (asked for" in r.getMessage() for r in caplog.records)


def test_lisa_generate_ids_uses_the_forced_path(lisa, monkeypatch, caplog):
    inputs = lisa_inputs(lisa, RED)
    monkeypatch.setattr("genassist.segmentation.lisa.eos_ids", lambda *a, **k: [])
    expected = plain_ids(lisa.llava.language_model, **inputs)
    lisa.decode_mode = "static"
    try:
        with caplog.at_level(logging.DEBUG, logger="genassist.mllm.decode_plan"):  # logged at INFO once per change
            assert lisa.generate_ids(inputs["inputs_embeds"][0], GREEDY) == expected
    finally:
        lisa.decode_mode = "auto"
    assert static_path_logged(caplog)  # the static path ran: an eager fallback would give the same tokens


def test_backend_answers_match_across_paths(qwen, llmga, caplog):
    messages = [Message("user", "Describe the picture.", [RED])]
    for backend in (qwen, llmga):
        answers = {}
        try:
            for mode in ("eager", "static"):
                backend.decode_mode = mode
                streamed = []
                caplog.clear()
                with caplog.at_level(logging.DEBUG, logger="genassist.mllm.decode_plan"):
                    answers[mode] = backend.generate(messages, GREEDY, on_text=streamed.append)
                assert streamed and streamed[-1].strip() == answers[mode]
            assert static_path_logged(caplog)
        finally:
            backend.decode_mode = "auto"
        assert answers["static"] == answers["eager"]


def test_auto_is_eager_everywhere_and_compile_is_static_and_bucketed(qwen, monkeypatch):
    monkeypatch.delenv("GENASSIST_DECODE", raising=False)
    cpu = decode_plan.decode_path(qwen.model, torch.device("cpu"), 100, 50)
    cuda = decode_plan.decode_path(qwen.model, torch.device("cuda"), 300, 50)
    assert (cpu.path, cpu.cache_len) == ("eager", 0)
    assert (cuda.path, cuda.cache_len) == ("eager", 0)  # a static cache alone was no faster on CUDA
    compiled = decode_plan.decode_path(qwen.model, torch.device("cuda"), 300, 50, mode="compiled")
    assert (compiled.path, compiled.cache_len) == ("compiled", 512)
    monkeypatch.setenv("GENASSIST_DECODE", "static")
    assert decode_plan.decode_path(qwen.model, torch.device("cpu"), 10, 5).path == "static"


def test_buckets_are_powers_of_two_from_256():
    assert [decode_plan.cache_bucket(n) for n in (1, 256, 257, 600, 1025)] == [256, 256, 512, 1024, 2048]


def test_static_failure_falls_back_to_eager_once(monkeypatch, caplog):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2, vocab_size=300)).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    tokenizer = type("Tok", (), {"decode": lambda self, ids, **k: " ".join(map(str, ids)), "pad_token_id": 0,
                                 "eos_token_id": None, "get_vocab": lambda self: {}})()
    expected = plain_ids(model, input_ids=ids)

    def broken(*args, **kwargs):
        raise RuntimeError("no static cache today")

    monkeypatch.setattr("genassist.mllm.static_decode.static_cache", broken)
    with caplog.at_level(logging.WARNING):
        assert our_ids(model, tokenizer, "static", input_ids=ids) == expected
    assert any("the static decoding path failed" in r.getMessage() for r in caplog.records)
    plan = decode_plan.decode_path(model, torch.device("cpu"), 4, 4, "static")
    assert plan.path == "eager" and "failed earlier" in plan.reason


@pytest.mark.parametrize("tokenizer_fixture", ["qwen", "llmga"])
def test_incremental_stream_ends_exactly_at_the_full_decode(tokenizer_fixture, request):
    tokenizer = request.getfixturevalue(tokenizer_fixture).tokenizer
    text = "Ein Bäcker 🍞 in Zürich: naïve café, 東京 — done.\n  two  spaces"
    ids = tokenizer(text, add_special_tokens=False).input_ids
    seen = []
    hooks = DecodeHooks(tokenizer, seen.append, None, [])
    hooks.put(torch.tensor([]))
    for token in ids:
        hooks.put(torch.tensor([token]))
        assert "\ufffd" not in hooks.text, "a half multi-byte character was handed out"
    hooks.end()
    assert hooks.text == tokenizer.decode(ids, skip_special_tokens=True)
    assert seen[-1] == hooks.text
    assert all(later.startswith(earlier) for earlier, later in zip(seen, seen[1:-1]))


def test_stop_string_stops_on_the_new_piece():
    tokenizer = type("Tok", (), {"decode": lambda self, ids, **k: "".join(chr(i) for i in ids)})()
    hooks = DecodeHooks(tokenizer, None, None, ["###"])
    hooks.put(torch.tensor([]))
    for i, char in enumerate("abc##"):
        hooks.put(torch.tensor([ord(char)]))
        assert not bool(hooks(torch.zeros(1, 1))[0]), i
    hooks.put(torch.tensor([ord("#")]))
    assert bool(hooks(torch.zeros(1, 1))[0])


@pytest.mark.parametrize("name", ["qwen", "llmga", "lisa"])
def test_compiled_path_is_token_identical_to_plain_generate(name, request, monkeypatch, caplog):
    """The compile plumbing end to end (transformers' compiled decode step over our bucketed static cache),
    captured by dynamo with the aot_eager backend: inductor's C++ code generation takes minutes on this
    CPU; bench/mllm_decode.py --compile measures the inductor path on a GPU."""
    monkeypatch.setenv("GENASSIST_COMPILE_BACKEND", "aot_eager")
    model, tokenizer, inputs = backend_case(name, request, None)
    expected = plain_ids(model, **inputs)
    with caplog.at_level(logging.INFO):
        assert our_ids(model, tokenizer, "compiled", **inputs) == expected
        assert our_ids(model, tokenizer, "compiled", **inputs) == expected
    messages = [r.getMessage() for r in caplog.records]
    assert any("on the compiled path" in m for m in messages)
    assert sum("compiling the decode step" in m for m in messages) == 1, "warm-up announced once per bucket"
    assert hasattr(model, "_compiled_call"), "transformers did not compile the decode step"


def test_only_inductor_needs_a_compiler_and_without_one_decoding_stays_eager(qwen, monkeypatch):
    monkeypatch.delenv("GENASSIST_COMPILE_BACKEND", raising=False)
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    assert decode_plan.compile_backend(cuda) == "cudagraphs" and decode_plan.compile_backend(cpu) == "inductor"
    monkeypatch.setattr(decode_plan.shutil, "which", lambda name: None)  # no C compiler anywhere
    assert decode_plan.compiler_missing(cuda) == ""  # CUDA graphs generate no code
    plan = decode_plan.decode_path(qwen.model, cpu, 100, 50, mode="compiled")
    assert (plan.path, plan.reason) == ("eager", "compile off: no C compiler on PATH (inductor on CPU needs one)")
