"""Segmentation nodes in the real ComfyUI registry: LoadSAM, LoadLISA, GroundedSegmenter, Segment."""

import json

import numpy as np
import pytest
import torch

from genassist.mllm.backend import GenerationSettings
from harness.inprocess import image_tensor, node, server_mllm
from harness.masks import assert_same_mask
from harness.openai_server import ScriptedOpenAIServer


def official_box_mask(models_dir, name, pixels, box):
    from segment_anything import SamPredictor

    from genassist.segmentation.sam_model import load_sam_file

    sam, _ = load_sam_file(str(models_dir / "sams" / name))
    predictor = SamPredictor(sam)
    predictor.set_image(pixels)
    logits, _, _ = predictor.predict(box=np.array(box), multimask_output=False, return_logits=True)
    return torch.from_numpy(logits[0] > 0).float()


@pytest.fixture(scope="module")
def sam(comfy_host, tiny):
    name = tiny.sam()
    (handle,) = node(comfy_host, "GenAssist_LoadSAM")(name, "auto", False)
    return name, handle


def grounded(comfy_host, sam_handle, server, box_format="auto"):
    mllm = server_mllm(comfy_host, server, stream=False)
    (segmenter,) = node(comfy_host, "GenAssist_GroundedSegmenter")(mllm, sam_handle, box_format, 512, 0)
    return segmenter


def answer(*boxes, explanation="chairs are for sitting"):
    return json.dumps({"explanation": explanation,
                       "objects": [{"label": f"obj{i}", "box": list(b)} for i, b in enumerate(boxes)]})


def test_load_sam_detects_the_architecture_from_weights(sam):
    name, handle = sam
    assert handle.spec.variant.startswith("custom") and handle.spec.image_size == 1024


def test_missing_sam_file_errors_name_folder_and_fix(comfy_host, monkeypatch):
    loader = node(comfy_host, "GenAssist_LoadSAM")
    with pytest.raises(FileNotFoundError, match=r"no SAM file 'sam_vit_l_0b3195.pth'.*sams.*download"):
        loader("sam_vit_l_0b3195.pth", "auto", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE=1 forbids downloading"):
        loader("sam_vit_l_0b3195.pth", "auto", True)
    with pytest.raises(FileNotFoundError, match="not an official SAM file"):
        loader("my_sam.pth", "auto", True)


def test_grounded_box_mask_equals_sams_own_output(comfy_host, models_dir, sam):
    name, handle = sam
    image, pixels = image_tensor()
    with ScriptedOpenAIServer(answer((100, 200, 600, 800))) as server:
        segmenter = grounded(comfy_host, handle, server)
        mask, explanation, preview = node(comfy_host, "GenAssist_Segment")(
            segmenter, image, "the object people sit on", "union", 0, 0)
        sent = server.requests[0].json
    expected = official_box_mask(models_dir, name, pixels, (16.0, 19.2, 96.0, 76.8))  # 0-1000 -> pixels
    assert mask.shape == (1, 96, 160) and preview.shape == (1, 96, 160, 3)
    assert 0 < expected.mean() < 1
    assert_same_mask(mask[0], expected)
    assert "chairs are for sitting" in explanation and "obj0" in explanation
    assert "0 to 1000" in sent["messages"][0]["content"][0]["text"]
    red = preview[0][mask[0] > 0]
    assert torch.all(red[:, 0] >= red[:, 1])  # the overlay tints the mask red


def test_nothing_found_and_malformed_answers_give_empty_masks_and_keep_the_batch(comfy_host, sam):
    _, handle = sam
    first, _ = image_tensor(seed=1)
    second, _ = image_tensor(seed=2)
    batch = torch.cat([first, second])
    replies = [answer(explanation="no seat anywhere"), "I cannot do JSON", "still not JSON"]
    with ScriptedOpenAIServer(replies) as server:
        segmenter = grounded(comfy_host, handle, server)
        mask, explanation, preview = node(comfy_host, "GenAssist_Segment")(
            segmenter, batch, "the object people sit on", "one mask per instance", 4, 2)
        assert len(server.requests) == 3  # one answer, then one answer + one repair
    assert mask.shape == (2, 96, 160) and torch.count_nonzero(mask) == 0
    lines = explanation.splitlines()
    assert lines[0].startswith("image 1: Nothing found") and "no seat anywhere" in lines[0]
    assert lines[1].startswith("image 2: Nothing segmented") and "after one retry" in lines[1]
    assert preview.shape == (2, 96, 160, 3)


def test_instances_grow_and_n_queries_encode_once(comfy_host, models_dir, sam):
    name, handle = sam
    image, pixels = image_tensor(seed=7)
    boxes = [(0, 0, 400, 500), (500, 400, 1000, 1000)]
    segment = node(comfy_host, "GenAssist_Segment")
    before = handle.cache.encoder_passes
    with ScriptedOpenAIServer(answer(*boxes)) as server:
        segmenter = grounded(comfy_host, handle, server)
        instances, _, previews = segment(segmenter, image, "query one", "one mask per instance", 0, 0)
        union_mask, _, _ = segment(segmenter, image, "query two", "union", 0, 0)
        grown, _, _ = segment(segmenter, image, "query three", "union", 3, 0)
    assert handle.cache.encoder_passes == before + 1  # three queries, one image-encoder pass
    assert instances.shape == (2, 96, 160) and previews.shape == (2, 96, 160, 3)
    expected = [official_box_mask(models_dir, name, pixels, (b[0] * 0.16, b[1] * 0.096, b[2] * 0.16, b[3] * 0.096))
                for b in boxes]
    assert_same_mask(instances[0], expected[0])
    assert_same_mask(instances[1], expected[1])
    assert_same_mask(union_mask[0], torch.maximum(*expected))
    assert grown.sum() > union_mask.sum() and torch.all(grown >= union_mask)


def test_lisa_node_yields_a_mask_of_the_image_size_and_polarity(comfy_host, tiny, models_dir):
    name = tiny.lisa()
    (segmenter,) = node(comfy_host, "GenAssist_LoadLISA")(name, "clip-vit-large-patch14", "auto", "none", 16,
                                                                   False)
    image, pixels = image_tensor(height=120, width=90, seed=3)
    mask, explanation, preview = node(comfy_host, "GenAssist_Segment")(
        segmenter, image, "the object people would sit on", "union", 0, 0)
    assert mask.shape == (1, 120, 90) and preview.shape == (1, 120, 90, 3)
    assert explanation == "[SEG]"
    from PIL import Image

    direct = segmenter.model.segment(Image.fromarray(pixels), "the object people would sit on",
                                     GenerationSettings(max_new_tokens=16, temperature=0.0))
    assert 0 < mask.mean() < 1
    assert torch.equal(mask[0], (direct.logits[0] > 0).float())  # 1 = where LISA's logits are positive


def test_load_lisa_compile_opt_in(comfy_host, tiny):
    loader = node(comfy_host, "GenAssist_LoadLISA")
    assert loader.INPUT_TYPES()["optional"]["compile"][1]["default"] is False
    (segmenter,) = loader(tiny.lisa(), "clip-vit-large-patch14", "fp32", "none", 16, False, compile=True)
    assert segmenter.model.decode_mode == "compile"
    # fp32 asks ComfyUI for the larger of the decode's room and its SAM's encoder (it used to ask for none)
    from genassist.segmentation.encoder_memory import lisa_activation_bytes

    assert segmenter.activation_bytes == lisa_activation_bytes(segmenter.model.sam_spec, torch.float32) > 0


def test_lisa_missing_model_and_tower_errors(comfy_host):
    loader = node(comfy_host, "GenAssist_LoadLISA")
    with pytest.raises(FileNotFoundError, match="LISA-13B-llama2-v1.*huggingface-cli download xinlai/LISA-13B-llama2-v1"):
        loader("LISA-13B-llama2-v1", "clip-vit-large-patch14", "auto", "none", 16, False)


def test_load_lisa_lists_lisa_folders_of_every_search_path_and_the_download_list(comfy_host, tiny, tmp_path,
                                                                                  monkeypatch):
    import folder_paths

    name = tiny.lisa()
    extra = tmp_path / "more-llm"
    (extra / "my-lisa").mkdir(parents=True)
    (extra / "my-lisa" / "config.json").write_text(json.dumps({"architectures": ["LISAForCausalLM"]}))
    (extra / "plain-llava").mkdir()
    (extra / "plain-llava" / "config.json").write_text(json.dumps({"mm_hidden_size": 1024}))
    (extra / ".my-lisa.download-1").mkdir()  # a download in progress
    (extra / ".my-lisa.download-1" / "config.json").write_text(json.dumps({"architectures": ["LISAForCausalLM"]}))
    paths, extensions = folder_paths.folder_names_and_paths["LLM"]
    monkeypatch.setitem(folder_paths.folder_names_and_paths, "LLM", (list(paths) + [str(extra)], extensions))
    choices = node(comfy_host, "GenAssist_LoadLISA").choices("model")
    assert {name, "my-lisa", "LISA-13B-llama2-v1", "LISA_Plus_7b"} <= set(choices)
    assert not {"plain-llava", "clip-vit-large-patch14", ".my-lisa.download-1"} & set(choices)
    assert choices == sorted(choices)
