"""Plan Canvas, Canvas Plan from JSON and Expand Canvas in the real ComfyUI registry: scripted server
answers for the MLLM, the tiny SD1.5-inpainting checkpoint for the tiles."""

import json
import logging
import re

import pytest
import torch

from harness.inprocess import node, server_mllm
from harness.openai_server import ScriptedOpenAIServer

GLOBAL = "a quiet harbour town at dusk"


def user_text(request) -> str:
    """The last user text of a request (a recorded one, or the JSON a reply callable gets)."""
    body = getattr(request, "json", request)
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else next(p["text"] for p in content if p["type"] == "text")


def tile_reply(request) -> str:
    """Caption naming the tile's rectangle, so tests can see which tile got which caption."""
    text = user_text(request)
    found = re.search(r"at x (\d+) to (\d+), y (\d+) to (\d+)", text)
    if found:
        return f"tile at {found.group(1)} {found.group(3)}"
    return {True: "A red boat by a quay.", False: "A harbour town around a red boat."}["Describe" in text]


def source(height=32, width=32, seed=0):
    return torch.rand(1, height, width, 3, generator=torch.Generator().manual_seed(seed))


def plan(comfy_host, mllm, image, global_caption="", margins=(16, 0, 0, 8), tile_size=32, overlap=0, seed=0):
    """Three tiles (left, below, the corner): each tile is sampled on CPU, so the tests keep few."""
    return node(comfy_host, "GenAssist_PlanCanvas")(mllm, image, global_caption, *margins, tile_size,
                                                         overlap, seed)


@pytest.fixture(scope="module")
def inpaint_ckpt(comfy_host, tiny):
    return node(comfy_host, "CheckpointLoaderSimple")(tiny.sd15_inpaint())


def expand(comfy_host, ckpt, image, canvas_plan, mllm=None, steps=2, **kw):
    model, clip, vae = ckpt
    return node(comfy_host, "GenAssist_ExpandCanvas")(
        image, canvas_plan, model, clip, vae, kw.pop("seed", 0), steps, 4.0, "euler", "normal", 1.0,
        kw.pop("feather_px", 4), kw.pop("harmonize", True), mllm=mllm, **kw)


def test_plan_writes_the_global_caption_then_one_caption_per_tile(comfy_host):
    with ScriptedOpenAIServer(tile_reply) as server:
        canvas_plan, plan_json = plan(comfy_host, server_mllm(comfy_host, server), source())
    data = json.loads(plan_json)
    assert (data["width"], data["height"], data["tile_size"]) == (48, 40, 32)
    assert data["global_caption"] == "A harbour town around a red boat."
    assert data["source"] == {"x": 16, "y": 0, "width": 32, "height": 32, "caption": "A red boat by a quay."}
    assert [t["caption"] for t in data["tiles"]] == [f"tile at {t['x']} {t['y']}" for t in data["tiles"]]
    # 3 turns for the global caption (describe, imagine, summarise), then one request per tile, in order
    assert len(server.requests) == 3 + len(data["tiles"])
    assert [len(r.json["messages"]) for r in server.requests[:3]] == [1, 3, 5]
    first_tile = user_text(server.requests[3])
    assert f'"{data["global_caption"]}"' in first_tile and "grows to the left" in first_tile
    assert '(the original image): "A red boat by a quay."' in first_tile
    assert canvas_plan.to_json() == plan_json


def test_given_global_caption_is_kept_and_the_source_still_described(comfy_host):
    with ScriptedOpenAIServer(tile_reply) as server:
        _, plan_json = plan(comfy_host, server_mllm(comfy_host, server), source(), global_caption=GLOBAL)
    data = json.loads(plan_json)
    assert data["global_caption"] == GLOBAL and data["source"]["caption"] == "A red boat by a quay."
    assert len(server.requests) == 1 + len(data["tiles"])
    assert all(f'Global caption of the whole scene: "{GLOBAL}"' in user_text(r) for r in server.requests[1:])


def test_malformed_tile_answers_fall_back_to_the_global_caption(comfy_host, caplog):
    def reply(request):
        return "" if "at x 0 to 16, y 0" in user_text(request) else tile_reply(request)

    with ScriptedOpenAIServer(reply) as server, caplog.at_level(logging.WARNING, logger="GenAssist"):
        _, plan_json = plan(comfy_host, server_mllm(comfy_host, server), source(), global_caption=GLOBAL)
    tiles = json.loads(plan_json)["tiles"]
    fallback = [t for t in tiles if t["caption"] == GLOBAL]
    assert [(t["x"], t["y"]) for t in fallback] == [(0, 0)]
    assert "using the global caption" in caplog.text


def test_plan_refuses_a_batch_and_bad_overlap(comfy_host):
    with ScriptedOpenAIServer(tile_reply) as server:
        mllm = server_mllm(comfy_host, server)
        with pytest.raises(ValueError, match="plans one image; got a batch of 2"):
            plan(comfy_host, mllm, torch.cat([source(), source()]))
        with pytest.raises(ValueError, match="overlap"):
            plan(comfy_host, mllm, source(), overlap=30)
    assert not server.requests


def test_plan_from_json_round_trip_and_errors(comfy_host):
    with ScriptedOpenAIServer(tile_reply) as server:
        canvas_plan, plan_json = plan(comfy_host, server_mllm(comfy_host, server), source(), global_caption=GLOBAL)
    loader = node(comfy_host, "GenAssist_CanvasPlanFromJSON")
    again, text = loader(plan_json)
    assert text == plan_json and again.tiles == canvas_plan.tiles
    data = json.loads(plan_json)
    data["tiles"][2]["direction"] = "north"
    with pytest.raises(ValueError, match=r"Canvas Plan from JSON: tiles\[2\] .* field 'direction'"):
        loader(json.dumps(data))


def test_expand_keeps_the_source_and_uses_edited_captions_verbatim(comfy_host, inpaint_ckpt):
    image = source()
    with ScriptedOpenAIServer(tile_reply) as server:
        _, plan_json = plan(comfy_host, server_mllm(comfy_host, server), image, global_caption=GLOBAL)
    data = json.loads(plan_json)
    data["tiles"][1]["caption"] = "EDITED: (a lighthouse) [on rocks]"
    edited, _ = node(comfy_host, "GenAssist_CanvasPlanFromJSON")(json.dumps(data))
    out, mask, used = expand(comfy_host, inpaint_ckpt, image, edited)
    assert out.shape == (1, 40, 48, 3) and mask.shape == (1, 40, 48)
    assert torch.equal(out[0, 0:32, 16:48], image[0]), "source pixels must be bit-identical"
    assert (mask[0, 0:32, 16:48] == 0).all() and mask.sum() == 48 * 40 - 32 * 32
    assert json.loads(used)["tiles"] == data["tiles"]
    assert out.std() > 0.01


def test_expand_is_deterministic_and_expands_a_batch(comfy_host, inpaint_ckpt):
    with ScriptedOpenAIServer(tile_reply) as server:
        canvas_plan, _ = plan(comfy_host, server_mllm(comfy_host, server), source(), global_caption=GLOBAL,
                              margins=(16, 0, 0, 0))  # one tile
    images = torch.cat([source(seed=1), source(seed=1)])  # the same image twice: same seed, same result
    out, mask, _ = expand(comfy_host, inpaint_ckpt, images, canvas_plan, seed=5)
    assert out.shape == (2, 32, 48, 3) and mask.shape == (2, 32, 48)
    assert torch.equal(out[0], out[1]) and torch.equal(out[1, 0:32, 16:48], images[1])
    with pytest.raises(ValueError, match="plan was made for a 32x32 source"):
        expand(comfy_host, inpaint_ckpt, source(24, 32), canvas_plan)


def test_live_captions_see_the_canvas_and_progress_counts_tiles_and_steps(comfy_host, inpaint_ckpt, monkeypatch):
    import comfy.utils

    # ComfyUI 0.33 passes a progress update to the hook at most every 100 ms; this test counts every one
    monkeypatch.setattr(comfy.utils, "PROGRESS_THROTTLE_MIN_INTERVAL", 0.0, raising=False)

    with ScriptedOpenAIServer(tile_reply) as server:
        canvas_plan, _ = plan(comfy_host, server_mllm(comfy_host, server), source(), global_caption=GLOBAL)
    updates = []
    previous = comfy.utils.PROGRESS_BAR_HOOK
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: updates.append(
        (value, total)))
    try:
        with ScriptedOpenAIServer(lambda r: "live " + tile_reply(r)) as server:
            _, _, used = expand(comfy_host, inpaint_ckpt, source(), canvas_plan, server_mllm(comfy_host, server),
                                steps=3)
    finally:
        comfy.utils.set_progress_bar_global_hook(previous)
    count = len(canvas_plan.tiles)
    assert [t["caption"] for t in json.loads(used)["tiles"]] == [
        "live " + t.caption for t in canvas_plan.tiles]
    assert len(server.requests) == count
    first = server.requests[0].json["messages"][-1]["content"]
    assert [p["type"] for p in first] == ["text", "image_url"]
    assert 'The plan proposed: "' + canvas_plan.tiles[0].caption + '"' in first[0]["text"]
    ours = [u for u in updates if u[1] == count * 3]
    assert [v for v, _ in ours] == list(range(1, count * 3 + 1))


def test_interrupt_during_a_tile_stops_the_canvas(comfy_host, inpaint_ckpt):
    import comfy.model_management as mm

    with ScriptedOpenAIServer(tile_reply) as server:
        canvas_plan, _ = plan(comfy_host, server_mllm(comfy_host, server), source(), global_caption=GLOBAL)

    def reply(request):
        if len(server.requests) == 2:  # while tile 1's caption is written
            mm.interrupt_current_processing(True)
        return tile_reply(request)

    try:
        with ScriptedOpenAIServer(reply) as server:
            with pytest.raises(mm.InterruptProcessingException):
                expand(comfy_host, inpaint_ckpt, source(), canvas_plan, server_mllm(comfy_host, server))
    finally:
        mm.interrupt_current_processing(False)
    assert len(server.requests) == 2 < len(canvas_plan.tiles)


def test_extra_conditioning_reaches_every_tile_and_live_captions_can_be_off(comfy_host, inpaint_ckpt, monkeypatch):
    import comfy.sample
    import node_helpers

    with ScriptedOpenAIServer(tile_reply) as server:
        canvas_plan, _ = plan(comfy_host, server_mllm(comfy_host, server), source(), global_caption=GLOBAL)
    _, clip, _ = inpaint_ckpt
    (text_cond,) = node(comfy_host, "CLIPTextEncode")(clip=clip, text="a watercolour of the source")
    extra = node_helpers.conditioning_set_values(text_cond, {"genassist_test_marker": "extra"})
    real_sample, seen = comfy.sample.sample, []

    def recording_sample(model, noise, steps, cfg, sampler_name, scheduler, positive, negative, *args, **kw):
        seen.append((sum(1 for c in positive if c[1].get("genassist_test_marker") == "extra"), len(positive)))
        return real_sample(model, noise, steps, cfg, sampler_name, scheduler, positive, negative, *args, **kw)

    monkeypatch.setattr(comfy.sample, "sample", recording_sample)
    with ScriptedOpenAIServer(lambda r: "live " + tile_reply(r)) as server:
        image, _, used = expand(comfy_host, inpaint_ckpt, source(), canvas_plan, server_mllm(comfy_host, server),
                                conditioning=extra, live_captions=False)
        assert not server.requests  # live captions off: the plan's captions, no MLLM call
    count = len(canvas_plan.tiles)
    assert seen == [(1, 2)] * count  # every tile: its text plus the extra conditioning, combined
    assert [t["caption"] for t in json.loads(used)["tiles"]] == [t.caption for t in canvas_plan.tiles]
    seen.clear()
    expand(comfy_host, inpaint_ckpt, source(), canvas_plan)
    assert seen == [(0, 1)] * count


def test_extra_conditioning_batch_gives_each_image_its_own_entry(comfy_host, inpaint_ckpt, monkeypatch):
    import comfy.sample

    from genassist.canvas.layout import layout_tiles

    canvas_plan = layout_tiles(32, 32, 16, 0, 0, 0, tile_size=32, overlap=0, global_caption=GLOBAL)  # one tile
    _, clip, _ = inpaint_ckpt
    (text_cond,) = node(comfy_host, "CLIPTextEncode")(clip=clip, text="x")
    extra = torch.stack([torch.full(text_cond[0][0].shape[1:], float(i)) for i in range(2)])  # item i holds i
    real_sample, seen = comfy.sample.sample, []

    def recording_sample(model, noise, steps, cfg, sampler_name, scheduler, positive, negative, *args, **kw):
        seen.append([tuple(c[0].shape) + (c[0].mean().item(),) for c in positive[1:]])
        return real_sample(model, noise, steps, cfg, sampler_name, scheduler, positive, negative, *args, **kw)

    monkeypatch.setattr(comfy.sample, "sample", recording_sample)
    images = torch.cat([source(seed=1), source(seed=2)])
    out, _, _ = expand(comfy_host, inpaint_ckpt, images, canvas_plan, steps=1, conditioning=[[extra, {}]])
    assert out.shape == (2, 32, 48, 3)
    assert seen == [[(1, *extra.shape[1:], 0.0)], [(1, *extra.shape[1:], 1.0)]]
    with pytest.raises(ValueError, match=r"conditioning\[0\] holds a batch of 2 .*image batch is 1"):
        expand(comfy_host, inpaint_ckpt, source(), canvas_plan, steps=1, conditioning=[[extra, {}]])
