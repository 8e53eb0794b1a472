"""Load SAM 3 in the real ComfyUI registry: a GENASSIST_SEGMENTER that Segment and Apply Edit Plan use
unchanged; the tiny random-weight folder is in the released layout (models/sams/sam3)."""

import json
import logging
import shutil
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import transformers  # noqa: E402  (a hard dependency: never skipped for being absent)
from PIL import Image

from harness.inprocess import image_tensor, node, pack_module

if not hasattr(transformers, "Sam3Model"):
    pytest.skip(f"SAM 3 needs transformers >= 5.0 (this is {transformers.__version__})", allow_module_level=True)


def pil_pixels(image):
    return (image[0].numpy() * 255).round().astype(np.uint8)


def load(comfy_host, name, threshold=0.5, query="noun phrase"):
    (segmenter,) = node(comfy_host, "GenAssist_LoadSAM3")(name, "auto", threshold, query, False)
    return segmenter


@pytest.fixture(scope="module")
def name(tiny):
    return tiny.sam3()


def test_node_lists_the_folder_and_the_official_name(comfy_host, name):
    choices = node(comfy_host, "GenAssist_LoadSAM3").choices("model")
    assert name in choices and "sam3" in choices
    sam_files = node(comfy_host, "GenAssist_LoadSAM").choices("model_name")
    assert not [f for f in sam_files if f.startswith(f"{name}/")]  # a SAM 3 folder's files are not Load SAM's


def test_union_and_instances_at_the_images_size(comfy_host, name):
    segmenter = load(comfy_host, name, threshold=0.0)
    assert segmenter.kind == "sam3" and segmenter.segment_box(None, (0, 0, 1, 1)) is None
    image, pixels = image_tensor()
    segment = node(comfy_host, "GenAssist_Segment")
    query = "segment the vase that stands on the table"
    instances, explanation, previews = segment(segmenter, image, query, "one mask per instance", 0, 0)
    union, _, _ = segment(segmenter, image, query, "union", 0, 0)
    direct = segmenter.runner.segment(Image.fromarray(pixels), "vase", 0.0)
    assert instances.shape == (10, 96, 160) and previews.shape == (10, 96, 160, 3)  # all 10 queries at 0.0
    assert torch.equal(instances, direct.masks)
    assert union.shape == (1, 96, 160) and torch.equal(union[0], direct.masks.amax(0))
    assert "10 instance(s) of 'vase'" in explanation and "cut from the query" in explanation
    as_is = load(comfy_host, name, threshold=0.0, query="as is")
    _, said, _ = segment(as_is, image, query, "union", 0, 0)
    assert f"of {query!r} (the query as is)" in said


def test_threshold_input_is_respected(comfy_host, name):
    image, pixels = image_tensor(seed=1)
    scores = load(comfy_host, name, threshold=0.0).runner.segment(Image.fromarray(pixels), "chair", 0.0).scores
    cut = float(scores[2] + scores[3]) / 2
    masks, explanation, _ = node(comfy_host, "GenAssist_Segment")(
        load(comfy_host, name, threshold=cut), image, "chair", "one mask per instance", 0, 0)
    assert masks.shape[0] == 3 and "3 instance(s)" in explanation


def test_nothing_above_the_threshold_is_a_zero_mask_and_a_log_line(comfy_host, name, caplog):
    image, _ = image_tensor(seed=2)
    with caplog.at_level(logging.INFO, logger="GenAssist"):
        mask, explanation, preview = node(comfy_host, "GenAssist_Segment")(
            load(comfy_host, name, threshold=1.0), torch.cat([image, image]), "vase", "one mask per instance", 3, 2)
    assert mask.shape == (2, 96, 160) and torch.count_nonzero(mask) == 0 and preview.shape == (2, 96, 160, 3)
    assert explanation.startswith("image 1: Nothing found for 'vase'") and "above 1.00" in explanation
    assert "GenAssist SAM 3: nothing for 'vase' above score 1.00" in caplog.text


def test_n_queries_on_one_image_run_the_vision_encoder_once(comfy_host, name):
    segmenter = load(comfy_host, name, threshold=0.0)
    calls = []
    hook = segmenter.runner.model.vision_encoder.register_forward_hook(lambda *args: calls.append(1))
    try:
        image, _ = image_tensor(seed=3)
        segment = node(comfy_host, "GenAssist_Segment")
        for query in ("vase", "chair", "the red car", "dog", "table"):
            segment(segmenter, image, query, "union", 0, 0)
        assert len(calls) == 1 and segmenter.runner.cache.encoder_passes == 1
        segment(segmenter, image_tensor(seed=4)[0], "vase", "union", 0, 0)
        assert len(calls) == 2
    finally:
        hook.remove()


def test_missing_file_error_names_the_file_and_the_folder(comfy_host, name, models_dir, tmp_path, monkeypatch):
    import folder_paths

    broken = tmp_path / "sam3-broken"
    shutil.copytree(models_dir / "sams" / name, broken)
    (broken / "processor_config.json").unlink()
    paths, extensions = folder_paths.folder_names_and_paths["sams"]
    monkeypatch.setitem(folder_paths.folder_names_and_paths, "sams", ([str(tmp_path)] + list(paths), extensions))
    assert "sam3-broken" in node(comfy_host, "GenAssist_LoadSAM3").choices("model")
    with pytest.raises(FileNotFoundError, match=r"sam3-broken is incomplete, missing: processor_config.json"):
        load(comfy_host, "sam3-broken")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE=1 forbids"):
        node(comfy_host, "GenAssist_LoadSAM3")("sam3-broken", "auto", 0.5, "noun phrase", True)


def test_apply_edit_plan_gives_the_region_and_the_plans_box_to_sam3(comfy_host, name, tiny):
    segmenter = load(comfy_host, name, threshold=0.0)
    apply_node = node(comfy_host, "GenAssist_ApplyEditPlan")
    localize = sys.modules[apply_node.node_class.__module__]._segment_localizer(segmenter, None)
    image, pixels = image_tensor(seed=5)
    step = SimpleNamespace(region="the vase", instruction="", box=[100, 250, 500, 750], action="replace")  # 0-1000
    where = pack_module(comfy_host, "editing.localize").locate(image, step, "auto", localize)
    mask, note = where.mask, where.note
    direct = segmenter.runner.segment(Image.fromarray(pixels), "vase", 0.0, box=(16.0, 24.0, 80.0, 72.0))  # in pixels
    assert torch.equal(mask, direct.masks.amax(0)) and "with the box prompt (16, 24, 80, 72)" in note
    _, plain = localize(image, SimpleNamespace(region="the vase", instruction="", box=None), None)
    assert "box prompt" not in plain
    (plan,) = node(comfy_host, "GenAssist_EditPlanFromJSON")(json.dumps({"steps": [
        {"instruction": "make the vase red", "action": "replace", "region": "the vase", "prompt": "a red vase"}]}))
    model, clip, vae = node(comfy_host, "CheckpointLoaderSimple")(tiny.sd15_inpaint())
    small = image[:, :64, :96]
    final, steps, masks, log = apply_node(
        small, plan, segmenter, model, clip, vae, seed=3, steps=2, cfg=4.0, sampler_name="euler",
        scheduler="normal", denoise=1.0, context_px=8, resolution=64, grow_px=0, feather_px=0, harmonize=True,
        negative="")
    expected = segmenter.runner.segment(Image.fromarray(pil_pixels(small)), "vase", 0.0).masks.amax(0)
    assert final.shape == (1, 64, 96, 3) and masks.shape == (1, 64, 96)
    assert 0 < expected.mean() < 1 and torch.equal(masks[0], expected)  # the step's region went to SAM 3
    assert "region: 'the vase'" in log
