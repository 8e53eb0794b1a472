"""Vision families beyond Qwen2.5-VL load through TransformersBackend as vision models, the image reaches
the model, seeded output repeats, and grounding answers in each family's convention become the right pixel
box. Tiny random-weight models in the real folder layout (tests/tiny_models/)."""

import pytest
import torch
from PIL import Image

from genassist.canvas.captions import DESCRIBE, IMAGINE, SUMMARISE
from genassist.editing.planner import planning_prompt
from genassist.mllm.backend import GenerationSettings, Message
from genassist.mllm.loader import load_backend
from genassist.mllm.task_prompts import build_request, mgie_request
from genassist.mllm.vision_cache import cache_image_features
from genassist.mllm.vision_chat import vision_model_types
from genassist.segmentation.grounding import convention_for, frame_for, ground, parse_grounding

RED = Image.new("RGB", (64, 48), (200, 10, 10))
BLUE = Image.new("RGB", (64, 48), (10, 10, 200))
# tiny model kind -> (family, box convention, a native grounding answer for the box (8, 12, 40, 36) on 64x48)
FAMILIES = {
    "qwen3vl": ("qwen3_vl", "0-1000", '[{"bbox_2d": [125, 250, 625, 750], "label": "cat"}]'),
    "qwen35": ("qwen3_5", "0-1000", '[{"bbox_2d": [125, 250, 625, 750], "label": "cat"}]'),
    "gemma3": ("gemma3", "loc1024", "<loc0256><loc0128><loc0768><loc0640> cat"),
    "idefics3": ("idefics3", "0-1000", '{"objects": [{"label": "cat", "box": [125, 250, 625, 750]}]}'),
    "internvl": ("internvl", "internvl", "<ref>cat</ref><box>[[125, 250, 625, 750]]</box>"),
    "mistral3": ("mistral3", "0-1000", '{"objects": [{"label": "cat", "box": [125, 250, 625, 750]}]}'),
    # named nowhere in the pack: it can only load through the generic image-text-to-text path
    "vipllava": ("vipllava", "0-1000", '{"objects": [{"label": "cat", "box": [125, 250, 625, 750]}]}'),
}
NEEDS = {"qwen35": "Qwen3_5Config"}  # model classes older transformers lack


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request, tiny, models_dir):
    import transformers

    kind = request.param
    if kind in NEEDS and not hasattr(transformers, NEEDS[kind]):
        pytest.skip(f"{kind}: transformers {transformers.__version__} has no {NEEDS[kind]} (needs >= 5)")
    backend = load_backend(str(models_dir / "LLM" / getattr(tiny, kind)()))
    return kind, backend


def ask(image, system=True):
    return ([Message("system", "Be brief.")] if system else []) + [Message("user", "Describe it.", [image])]


def last_logits(backend, messages):
    with torch.no_grad():
        return backend.model(**backend.prepare(messages)).logits[0, -1]


def image_token_id(config) -> int:
    for key in ("image_token_id", "image_token_index"):
        if getattr(config, key, None) is not None:
            return getattr(config, key)
    raise AssertionError("config names no image token")


def test_loads_as_a_vision_model(family):
    kind, backend = family
    assert backend.family == FAMILIES[kind][0]
    assert backend.model_type in vision_model_types()
    assert backend.processor is not None and type(backend.model).__name__.endswith("ForConditionalGeneration")


def test_the_image_reaches_the_model(family):
    _, backend = family
    inputs = backend.prepare(ask(RED))
    assert int((inputs["input_ids"] == image_token_id(backend.model.config)).sum()) >= 4
    assert "pixel_values" in inputs
    # the answer depends on the picture: a dropped or ignored image would give identical logits
    assert not torch.allclose(last_logits(backend, ask(RED)), last_logits(backend, ask(BLUE)), atol=1e-4)


def test_system_and_user_text_reach_the_prompt_in_order(family):
    _, backend = family
    text = backend.tokenizer.decode(backend.prepare(ask(RED))["input_ids"][0])
    assert 0 <= text.index("Be brief.") < text.index("Describe it.")


def pack_conversations() -> dict[str, list[Message]]:
    """Every conversation shape the pack sends an MLLM (Refine Prompt tasks, the edit task's second turn,
    Expressive Instruction, Plan Edit, Plan Canvas captions)."""
    out = {}
    for task in ("similar_image", "inpaint", "outpaint"):
        out[task] = build_request(task, "a cat", RED).first
    edit = build_request("edit", "make it blue", RED)
    out["edit"] = edit.first + [Message("assistant", "<gen_image> a red card </gen_image>"), edit.second]
    out["expressive"] = mgie_request("make it blue", RED)
    out["plan_edit"] = [Message("user", planning_prompt("make it blue", 3), [RED])]
    out["captions"] = [Message("user", DESCRIBE, [RED]), Message("assistant", "A red card."),
                       Message("user", IMAGINE), Message("assistant", "A table."), Message("user", SUMMARISE)]
    return out


def test_every_conversation_the_pack_sends_renders_with_its_image(family):
    _, backend = family
    for name, messages in pack_conversations().items():
        inputs = backend.prepare(messages)
        # spaces dropped: older tokenizers' decode cleans up " '" to "'"
        text = "".join(backend.tokenizer.decode(inputs["input_ids"][0]).split())
        assert int((inputs["input_ids"] == image_token_id(backend.model.config)).sum()) >= 4, name
        last, first = ("".join(m.text.split()) for m in (messages[-1], messages[0]))
        assert last[:40] in text, name
        assert text.rindex(last[:40]) > text.rindex(first[:20]) or len(messages) == 1, name


def test_expressive_instruction_puts_the_image_after_the_text(family):
    _, backend = family
    ids = backend.prepare([Message("user", "Describe it.", [RED], image_after_text=True)])["input_ids"][0]
    text = backend.tokenizer.decode(ids)
    first_image = ids.tolist().index(image_token_id(backend.model.config))
    assert text.index("Describe it.") < len(backend.tokenizer.decode(ids[:first_image]))


def test_an_image_the_processor_refuses_names_its_size(family):
    kind, backend = family
    thin = Image.new("RGB", (5, 1200))
    try:
        backend.prepare(ask(thin))
    except ValueError as error:  # Qwen refuses above 200:1, Pixtral when a side rounds to nothing
        assert "5x1200" in str(error) and backend.model_type in str(error)
    else:
        assert kind not in ("qwen3vl", "qwen35", "mistral3")  # these processors do refuse it


def test_greedy_output_repeats_with_a_seed(family):
    _, backend = family
    settings = GenerationSettings(max_new_tokens=5, temperature=0.0, seed=1)
    first = backend.generate(ask(RED), settings)
    assert first and first == backend.generate(ask(RED), settings)


def test_the_same_image_asked_again_reuses_its_vision_features(family):
    """Every family's encoder arguments can be compared exactly, so the features are reused, and only for
    the same pixels (the second picture differs from the first in one channel value)."""
    _, backend = family
    cache = cache_image_features(backend.model)
    settings = GenerationSettings(max_new_tokens=2, temperature=0.0, seed=0)
    first, other = Image.new("RGB", (64, 48), (7, 99, 201)), Image.new("RGB", (64, 48), (7, 99, 202))
    before = cache.encoder_passes
    backend.generate(ask(first), settings)
    backend.generate(ask(first, system=False), settings)
    assert cache.encoder_passes == before + 1
    backend.generate(ask(other), settings)
    assert cache.encoder_passes == before + 2


def test_grounding_in_the_familys_convention(family):
    kind, backend = family
    _, convention, answer = FAMILIES[kind]
    assert convention_for(backend.family) == convention
    frame = frame_for(convention, RED.width, RED.height)
    # what the model would answer survives its own tokenizer's decoding (location/box tokens are kept)
    ids = backend.tokenizer(answer, add_special_tokens=False)["input_ids"]
    decoded = backend.tokenizer.decode(ids, skip_special_tokens=True)
    (found,), _ = parse_grounding(decoded, frame)
    assert found.label == "cat"
    assert found.box == pytest.approx((8.0, 12.0, 40.0, 36.0))


def test_grounding_through_the_model_never_raises(family):
    _, backend = family
    settings = GenerationSettings(max_new_tokens=6, temperature=0.0, seed=0)
    frame = frame_for(convention_for(backend.family), RED.width, RED.height)
    result = ground(backend.generate, RED, "the red thing", frame, settings)
    assert 1 <= len(result.answers) <= 2 and (result.found or result.error)


def test_recorded_decode_steps_give_the_eager_tokens_and_read_nothing_on_the_host(family):
    """The graphs path (recorded decode steps, replayed eagerly on a CPU) for every family, while transformers
    believes a CUDA graph is being recorded: the tokens of the eager path, and no host read in a step. Older
    transformers may read one (Qwen3-VL's rope index under 4.57): then the path is refused, named, and
    decoding goes on eagerly with the same tokens."""
    import transformers
    from packaging.version import Version

    from genassist.mllm import decode_plan, static_decode
    from harness.decode_cases import our_ids
    from harness.recording import as_if_recording

    _, backend = family
    inputs = backend.prepare(ask(RED))
    settings = GenerationSettings(max_new_tokens=6, temperature=0.0, seed=0)
    eager = our_ids(backend.model, backend.tokenizer, "eager", settings, **inputs)
    with as_if_recording():
        graphs = our_ids(backend.model, backend.tokenizer, "graphs", settings, **inputs)
    held = static_decode._HELD.pop(backend.model)
    refused = decode_plan._STATE[backend.model].failed.pop("graphs", "")
    assert graphs == eager and len(eager) == 6
    if refused:
        assert Version(transformers.__version__) < Version("5") and "reads a tensor on the host" in refused
    else:
        assert (len(held.step.recordings), held.step.replays) == (1, 4)
