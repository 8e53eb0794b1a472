"""Every example workflow follows the template conventions a new user relies on (see
tests/harness/workflow_conventions.py); mutated copies prove each check fails when it should."""

import copy
import importlib.util
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from harness.workflow_conventions import (
    expected_missing_models,
    layout_problems,
    model_problems,
    note_problems,
    thumbnail_path,
    view_problems,
)

PACK = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((PACK / "example_workflows").glob("*.json"))
# Has every kind of loader the checks know: a server MLLM, SAM, a checkpoint.
SAMPLE = PACK / "example_workflows" / "segment_grounded_inpaint.json"


def _thumbnails():
    spec = importlib.util.spec_from_file_location("make_thumbnails", PACK / "scripts" / "make_thumbnails.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def thumbnail_problems(path: Path) -> list[str]:
    thumb = thumbnail_path(path)
    fix = f"run: .host/venv/bin/python scripts/make_thumbnails.py {path.relative_to(path.parents[1])}"
    if not thumb.is_file():
        return [f"no thumbnail {thumb.name} ({fix})"]
    with Image.open(thumb) as image:
        if image.format != "JPEG":
            return [f"{thumb.name} is {image.format}, not JPEG ({fix})"]
        shipped = image.convert("RGB")
    fresh = _thumbnails().render_file(path)
    if shipped.size != fresh.size:
        return [f"{thumb.name} is {shipped.size}, not {fresh.size} ({fix})"]
    drift = max(ImageStat.Stat(ImageChops.difference(shipped, fresh)).mean)
    return [f"{thumb.name} is stale: it differs from the workflow's drawing by {drift:.1f}/255 ({fix})"] \
        if drift > 3 else []


def all_problems(workflow: dict) -> list[str]:
    return note_problems(workflow) + model_problems(workflow) + layout_problems(workflow) + view_problems(workflow)


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_there_are_example_workflows():
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_workflow_follows_the_conventions(path):
    problems = all_problems(_load(path)) + thumbnail_problems(path)
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


# -- each check fails when it should -------------------------------------------------------------------------

def _node(workflow: dict, kind: str) -> dict:
    return next(n for n in workflow["nodes"] if n["type"] == kind)


def test_sample_is_clean():
    assert all_problems(_load(SAMPLE)) == []


def test_loader_without_models_property_fails():
    workflow = _load(SAMPLE)
    del _node(workflow, "CheckpointLoaderSimple")["properties"]["models"]
    assert any("no properties.models entry for sd-v1-5-inpainting.safetensors" in p
               for p in model_problems(workflow))


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("url", "http://huggingface.co/x/resolve/main/sam_vit_h_4b8939.pth", "is not https"),
    ("url", "https://huggingface.co/x/resolve/main/sam_vit_h.pth?download=true", "does not end in the file name"),
    ("directory", "checkpoints", "not 'sams'"),
    ("name", "sam_vit_b_01ec64.pth", "not its selected file"),
])
def test_bad_models_entry_fails(field, value, expected):
    workflow = _load(SAMPLE)
    _node(workflow, "GenAssist_LoadSAM")["properties"]["models"][0][field] = value
    assert any(expected in p for p in model_problems(workflow)), model_problems(workflow)


def test_unknown_loader_fails():
    workflow = _load(SAMPLE)
    _node(workflow, "LoadImage")["type"] = "SomePackLoader"
    _node(workflow, "SomePackLoader")["widgets_values"] = ["weights.safetensors"]
    assert any("not a known loader" in p for p in model_problems(workflow))


def test_workflow_without_note_fails():
    workflow = _load(SAMPLE)
    workflow["nodes"] = [n for n in workflow["nodes"] if n["type"] != "MarkdownNote"]
    assert note_problems(workflow) == ["no MarkdownNote explaining the workflow"]


def test_plain_note_does_not_count():
    workflow = _load(SAMPLE)
    _node(workflow, "MarkdownNote")["type"] = "Note"
    assert note_problems(workflow) == ["no MarkdownNote explaining the workflow"]


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("## Inputs to change", "## Inputs", "no '## Inputs to change' section"),
    ("VRAM", "memory", "does not give the VRAM"),
    ("Estimates, not measured", "Numbers", "measured or estimates"),
    ("sam_vit_b_01ec64.safetensors", "the SAM file", "does not name sam_vit_b_01ec64.safetensors in models/sams/"),
    ("qwen3-vl:8b", "a Qwen model", "served model qwen3-vl:8b"),
])
def test_incomplete_note_fails(old, new, expected):
    workflow = _load(SAMPLE)
    note = _node(workflow, "MarkdownNote")
    assert old in note["widgets_values"][0]
    note["widgets_values"][0] = note["widgets_values"][0].replace(old, new)
    assert any(expected in p for p in note_problems(workflow)), note_problems(workflow)


def test_folder_model_without_download_command_fails():
    workflow = _load(PACK / "example_workflows" / "segment_lisa_inpaint.json")
    note = _node(workflow, "MarkdownNote")
    note["widgets_values"][0] = note["widgets_values"][0].replace(
        "--local-dir ComfyUI/models/LLM/clip-vit-large-patch14", "")
    assert any("download command for the folder model clip-vit-large-patch14" in p
               for p in note_problems(workflow))


def test_sam3_folder_without_download_command_into_models_sams_fails():
    workflow = _load(PACK / "example_workflows" / "edit_plan_sam3.json")
    note = _node(workflow, "MarkdownNote")
    note["widgets_values"][0] = note["widgets_values"][0].replace("ComfyUI/models/sams/sam3", "ComfyUI/models/LLM/sam3")
    assert any("download command for the folder model sam3 ('... --local-dir ComfyUI/models/sams/sam3'" in p
               for p in note_problems(workflow))


def test_overlapping_nodes_fail():
    workflow = _load(SAMPLE)
    ksampler, decode = _node(workflow, "KSampler"), _node(workflow, "VAEDecode")
    decode["pos"] = [ksampler["pos"][0] + 20, ksampler["pos"][1] + 20]
    assert any("overlaps" in p and "VAEDecode" in p for p in layout_problems(workflow))


def test_node_outside_groups_and_backward_link_fail():
    workflow = _load(SAMPLE)
    save = next(n for n in workflow["nodes"] if n["type"] == "SaveImage" and n["id"] == 16)
    save["pos"] = [-3000, 0]
    problems = layout_problems(workflow)
    assert "node 16 (SaveImage) lies inside 0 groups, not exactly one (below the title)" in problems
    assert any("runs right to left" in p and "node 16 (SaveImage)" in p for p in problems)


def test_stage_numbers_out_of_order_fail():
    workflow = _load(SAMPLE)
    first, last = workflow["groups"][0], workflow["groups"][-1]
    first["title"], last["title"] = last["title"], first["title"]
    assert any("numbered stages do not read left to right" in p for p in layout_problems(workflow))


def test_unreadable_default_view_fails():
    workflow = _load(SAMPLE)
    workflow["extra"]["ds"]["scale"] = 0.4
    assert view_problems(workflow) == ["extra.ds.scale 0.4 < 0.6: text not drawn"]
    del workflow["extra"]["ds"]
    assert "no extra.ds" in view_problems(workflow)[0]


def test_missing_or_stale_thumbnail_fails(tmp_path):
    copy_path = tmp_path / "example_workflows" / SAMPLE.name
    copy_path.parent.mkdir()
    shutil.copy(SAMPLE, copy_path)
    assert "no thumbnail" in thumbnail_problems(copy_path)[0]
    shutil.copy(thumbnail_path(SAMPLE), thumbnail_path(copy_path))
    assert thumbnail_problems(copy_path) == []
    workflow = _load(copy_path)
    workflow["groups"][0]["title"] = "A different first stage"
    copy_path.write_text(json.dumps(workflow))
    assert "is stale" in thumbnail_problems(copy_path)[0]


def test_expected_missing_models_follow_the_frontend_rules():
    workflow = _load(SAMPLE)
    assert expected_missing_models(workflow) == ["checkpoints / sd-v1-5-inpainting.safetensors",
                                                 "sams / sam_vit_b_01ec64.safetensors"]
    twin = copy.deepcopy(_node(workflow, "CheckpointLoaderSimple"))
    twin["id"] = 999
    workflow["nodes"].append(twin)  # the same file twice is listed once
    _node(workflow, "GenAssist_LoadSAM")["widgets_values"][0] = "sam_vit_b_01ec64.pth"  # entry not selected
    assert expected_missing_models(workflow) == ["checkpoints / sd-v1-5-inpainting.safetensors"]


def test_notes_groups_and_models_properties_never_reach_the_api_prompt():
    """e2e tests run the shipped files through harness.workflow: what the conventions add is UI-only."""
    from harness.workflow import ui_to_api

    object_info = {"CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["a.safetensors"], {}]}}}}
    loader = {"id": 1, "type": "CheckpointLoaderSimple", "mode": 0, "inputs": [], "outputs": [],
              "widgets_values": ["a.safetensors"],
              "properties": {"models": [{"name": "a.safetensors", "url": "https://x/a.safetensors",
                                         "directory": "checkpoints"}]}}
    notes = [{"id": 2, "type": "MarkdownNote", "mode": 0, "inputs": [], "outputs": [], "widgets_values": ["# t"]},
             {"id": 3, "type": "Note", "mode": 0, "inputs": [], "outputs": [], "widgets_values": ["t"]}]
    workflow = {"nodes": [loader, *notes], "links": [], "groups": [{"id": 1, "title": "1 · Load",
                                                                     "bounding": [0, 0, 10, 10]}]}
    assert ui_to_api(workflow, object_info) == {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"},
              "_meta": {"title": "CheckpointLoaderSimple"}}}
