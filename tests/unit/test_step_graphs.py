"""The graphs decoding path: decode steps recorded once per input signature and replayed through transformers'
generate, for every local backend. On a CPU the recording is the warm-up's operators, replayed on the same
tensors with no model code run again (a CUDA graph's semantics: fixed memory, Python state frozen), so
these tests check everything but the CUDA capture itself: token identity with plain generate (greedy,
seeded sampling, no_repeat_ngram_size), reuse across calls, fresh outputs, followed model state, the
fallbacks, and that the decode step reads no tensor on the host while a recording is under way (which would
break a real capture). With CUDA the last test records real CUDA graphs."""

import logging

import pytest
import torch
from PIL import Image
from transformers.modeling_outputs import CausalLMOutputWithPast

from genassist.mllm import decode_plan, static_decode
from genassist.mllm.backend import GenerationSettings
from genassist.mllm.decoding import DecodeHooks, run_generate
from genassist.mllm.step_graphs import MAX_SIGNATURES, NotRecordable, SignatureChurn, StepGraphs
from genassist.mllm.step_watch import StepWatch
from harness.decode_cases import BACKENDS, GREEDY, TOKENS, backend_case, hf_inputs, our_ids, plain_ids
from harness.recording import as_if_recording

RED = Image.new("RGB", (40, 30), (200, 10, 10))


def recorded_step(model) -> StepGraphs:
    return static_decode._HELD[model].step


@pytest.fixture(autouse=True)
def fresh_decoding_state():
    """Each test starts with no recordings and no failed paths (the backends are shared by the module)."""
    static_decode._HELD.clear()
    decode_plan._STATE.clear()
    yield
    static_decode._HELD.clear()
    decode_plan._STATE.clear()


@pytest.mark.parametrize("image", [RED, None], ids=["image", "text"])
@pytest.mark.parametrize("name", BACKENDS)
def test_graphs_path_is_token_identical_and_replays_every_later_step(name, image, request):
    model, tokenizer, inputs = backend_case(name, request, image)
    expected = plain_ids(model, **inputs)
    assert our_ids(model, tokenizer, "graphs", **inputs) == expected
    step = recorded_step(model)
    # prefill gives the first token; TOKENS - 1 decode steps: the first records, the others replay
    assert (len(step.recordings), step.replays) == (1, TOKENS - 2)
    assert our_ids(model, tokenizer, "graphs", **inputs) == expected
    assert recorded_step(model) is step and (len(step.recordings), step.replays) == (1, 2 * TOKENS - 3)


@pytest.mark.parametrize("name", BACKENDS)
def test_decode_step_reads_no_tensor_on_the_host_while_recording(name, request):
    model, tokenizer, inputs = backend_case(name, request, RED)
    with as_if_recording():
        our_ids(model, tokenizer, "graphs", **inputs)
    assert "graphs" not in decode_plan._STATE[model].failed  # the warm-up saw no host read
    assert recorded_step(model).replays == TOKENS - 2


class ReadingModel(torch.nn.Module):
    """A decode step that branches on a tensor's value, as some models' code does."""

    def forward(self, input_ids, **kwargs):
        logits = torch.zeros(1, 1, 4)
        return CausalLMOutputWithPast(logits=logits + 1 if input_ids.sum() > 0 else logits)


def test_a_step_reading_a_tensor_on_the_host_is_not_recorded():
    model = ReadingModel()
    with pytest.raises(NotRecordable, match=r"reads a tensor on the host \(_local_scalar_dense at .*test_step_graphs"):
        StepGraphs(model)(input_ids=torch.tensor([[3]]))


OUTSIDE = torch.tensor([5.0])  # a tensor the model holds nowhere


def test_host_reads_and_outside_tensors_are_seen():
    t, weight = torch.tensor([1, 0, 2]), torch.ones(3)
    watch = StepWatch()
    with watch:
        bool(t[0])
        torch.nonzero(t)
        t.repeat_interleave(2)  # integer repeats: no host read
        (t * weight + torch.tensor(2.0) + OUTSIDE).sum()  # torch.tensor(...) inside: made there
    assert [name for name, _ in watch.host_reads] == ["_local_scalar_dense", "nonzero"]
    assert [x is OUTSIDE for x in watch.read_from_outside([t, weight])] == [True]


class StatefulModel(torch.nn.Module):
    """Reads a tensor it keeps as a plain attribute and replaces between calls (as stored rope deltas are)."""

    def __init__(self):
        super().__init__()
        self.delta = torch.tensor([1.0])

    def forward(self, input_ids, **kwargs):
        return CausalLMOutputWithPast(logits=(input_ids.float() + self.delta).view(1, 1, 1))


def test_model_state_the_step_reads_is_followed_into_the_recorded_memory():
    model = StatefulModel()
    step = StepGraphs(model)
    assert step(input_ids=torch.tensor([[1]])).logits.item() == 2.0
    (recording,) = step.recordings.values()
    followed = recording.followed[0]
    assert followed[:2] == (model, "delta")
    model.delta = torch.tensor([5.0])  # a new prefill stored new deltas
    assert step(input_ids=torch.tensor([[1]])).logits.item() == 6.0
    assert followed[2].item() == 5.0, "the memory the graph reads was not updated"
    model.delta = torch.tensor([5.0, 6.0])
    with pytest.raises(NotRecordable, match="StatefulModel.delta, read by the recorded step, changed shape"):
        step(input_ids=torch.tensor([[1]]))


class OutsideModel(torch.nn.Module):
    def forward(self, input_ids, **kwargs):
        return CausalLMOutputWithPast(logits=(input_ids.float() + OUTSIDE).view(1, 1, 1))


def test_a_step_reading_a_tensor_held_outside_the_model_is_not_recorded():
    model = OutsideModel()
    with pytest.raises(NotRecordable, match=r"reads a \(1,\) torch.float32 tensor held outside its arguments"):
        StepGraphs(model)(input_ids=torch.tensor([[1]]))


class CacheLike:
    def __init__(self):
        self.layers = [{"keys": torch.zeros(3)}]


class CacheModel(torch.nn.Module):
    def forward(self, input_ids, cache, **kwargs):
        keys = cache.layers[0]["keys"]
        keys.add_(1.0)  # the step writes into the cache's own tensor
        return CausalLMOutputWithPast(logits=(keys.sum() + input_ids).view(1, 1, 1))


def test_a_cache_that_reallocated_its_tensors_is_recorded_again(caplog):
    model, cache = CacheModel(), CacheLike()
    step = StepGraphs(model)
    assert step(input_ids=torch.tensor([[0]]), cache=cache).logits.item() == 3.0
    assert step(input_ids=torch.tensor([[0]]), cache=cache).logits.item() == 6.0  # written once per step
    (old,) = step.recordings.values()
    assert old.held[0] is cache.layers[0]["keys"]
    cache.layers[0]["keys"] = torch.zeros(3)
    step.new_call()
    with caplog.at_level(logging.INFO):
        assert step(input_ids=torch.tensor([[0]]), cache=cache).logits.item() == 3.0
    (new,) = step.recordings.values()
    assert new is not old and new.held[0] is cache.layers[0]["keys"]
    assert "recording the decode step again" in caplog.text


def test_weights_that_moved_are_recorded_again():
    model = StatefulModel()
    model.scale = torch.nn.Linear(1, 1)  # parameters the recording's fingerprint of the weights covers
    step = StepGraphs(model)
    step(input_ids=torch.tensor([[1]]))
    (old,) = step.recordings.values()
    model.scale.weight.data = model.scale.weight.data.clone()  # what an offload and reload does to addresses
    step.new_call()
    step(input_ids=torch.tensor([[1]]))
    (new,) = step.recordings.values()
    assert new is not old and new.weights != old.weights


def test_release_frees_the_buffers_of_a_model_and_its_submodules(llmga):
    model, tokenizer = llmga.model.language_model, llmga.tokenizer
    our_ids(model, tokenizer, "graphs", input_ids=torch.tensor([[5, 6, 7]]))
    assert model in static_decode._HELD
    assert static_decode.release_decode_buffers(llmga.model) == 1
    assert model not in static_decode._HELD and static_decode.release_decode_buffers(llmga.model) == 0


def test_seeded_sampling_and_no_repeat_ngram_are_unchanged(qwen):
    model, tokenizer, inputs = qwen.model, qwen.tokenizer, hf_inputs(qwen, RED)
    for settings in (GenerationSettings(max_new_tokens=TOKENS, temperature=0.9, top_p=0.8, seed=7),
                     GenerationSettings(max_new_tokens=TOKENS, temperature=0.0, seed=0, no_repeat_ngram_size=2)):
        eager = our_ids(model, tokenizer, "eager", settings, **inputs)
        assert our_ids(model, tokenizer, "graphs", settings, **inputs) == eager
    assert recorded_step(model).replays > 0


class BufferModel(torch.nn.Module):
    """Writes its logits into one buffer, as a replayed CUDA graph does."""

    def __init__(self):
        super().__init__()
        self.register_buffer("out", torch.zeros(1, 1, 4))

    def forward(self, input_ids, **kwargs):
        self.out.copy_(input_ids.float().expand(1, 1, 4))
        return CausalLMOutputWithPast(logits=self.out)


def test_outputs_are_copies_not_the_buffers():
    model = BufferModel()
    step = StepGraphs(model)
    first = step(input_ids=torch.tensor([[1]]))
    second = step(input_ids=torch.tensor([[2]]))
    assert first.logits.flatten().tolist() == [1.0] * 4 and second.logits.flatten().tolist() == [2.0] * 4
    assert model.out is not second.logits


def test_inputs_changing_shape_every_step_are_refused():
    model = BufferModel()
    step = StepGraphs(model)
    for length in range(MAX_SIGNATURES):
        step(input_ids=torch.ones(1, 1, dtype=torch.long), mask=torch.ones(1, length + 1))
    with pytest.raises(SignatureChurn):
        step(input_ids=torch.ones(1, 1, dtype=torch.long), mask=torch.ones(1, MAX_SIGNATURES + 1))
    assert len(step.recordings) == MAX_SIGNATURES and step.model() is model


def test_a_failing_recording_is_remembered_and_decoding_goes_on(llmga, monkeypatch, caplog):
    model, tokenizer = llmga.model.language_model, llmga.tokenizer
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    expected = plain_ids(model, input_ids=ids)

    def broken(self, flat, spec):
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(StepGraphs, "_record", broken)
    with caplog.at_level(logging.WARNING):
        assert our_ids(model, tokenizer, "graphs", input_ids=ids) == expected
    assert any("the graphs decoding path failed" in r.getMessage() for r in caplog.records)
    plan = decode_plan.decode_path(model, torch.device("cpu"), 5, 4, "graphs")
    assert plan.path == "eager" and "graphs path failed earlier" in plan.reason
    # compile on a GPU then takes the next path: torch.compile's CUDA-graph backend
    monkeypatch.setattr(decode_plan, "compiler_missing", lambda device: "")
    assert decode_plan.decode_path(model, torch.device("cuda"), 5, 4, "compile").path == "compiled"


def test_compile_prefers_graphs_on_cuda(qwen, monkeypatch):
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    plan = decode_plan.decode_path(qwen.model, cuda, 300, 50, mode="compile")
    assert (plan.path, plan.cache_len, plan.reason) == ("graphs", 512, "compile on")
    monkeypatch.setattr(decode_plan, "compiler_missing", lambda device: "")
    plan = decode_plan.decode_path(qwen.model, cpu, 300, 50, mode="compile")
    assert plan.path == "compiled" and "no CUDA graphs: CUDA graphs need a CUDA device" in plan.reason


def test_an_error_of_the_callers_hook_blames_no_path(llmga):
    model, tokenizer = llmga.model.language_model, llmga.tokenizer

    def broken_sink(text):
        raise ValueError("the user's live-text sink broke")

    hooks = DecodeHooks(tokenizer, broken_sink, None, [])
    with pytest.raises(ValueError, match="live-text sink"):
        run_generate(model, tokenizer, GREEDY, hooks, [], "graphs", input_ids=torch.tensor([[5, 6, 7]]))
    assert decode_plan.decode_path(model, torch.device("cpu"), 3, 4, "graphs").path == "graphs"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="records real CUDA graphs: needs a CUDA device")
@pytest.mark.parametrize("name", BACKENDS)
def test_cuda_graphs_replay_gives_the_tokens_of_plain_generate(name, request):
    model, tokenizer, inputs = backend_case(name, request, RED)
    model.cuda()
    try:
        inputs = {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        expected = plain_ids(model, **inputs)
        assert our_ids(model, tokenizer, "graphs", **inputs) == expected
        step = recorded_step(model)
        assert step.recordings and next(iter(step.recordings.values())).graph is not None
        assert step.replays == TOKENS - 2
    finally:
        static_decode._HELD.clear()  # the recordings hold CUDA buffers
        model.cpu()
