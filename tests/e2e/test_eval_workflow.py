"""The evaluation's workflow runner end to end on the real ComfyUI server with tiny models: a ReasonSeg
dataset runs through a LoadImage -> Grounded Segmenter (tiny SAM, scripted MLLM server) -> mask -> SaveImage
graph marked with eval: titles; scores are written, a re-run skips finished items, a failing item is
recorded while the others finish, and an unreachable server's items go to the live one."""

import json

import numpy as np
import pytest
from PIL import Image

from genassist.evaluation.cli import main
from harness.eval_datasets import magicbrush, reasonseg_item, rect
from harness.graphs import grounded_segmenter
from harness.openai_server import ScriptedOpenAIServer
from harness.server import free_port

SIZE = (64, 48)


def graph(base_url: str) -> dict:
    return {
        **grounded_segmenter(base_url),
        "4": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}, "_meta": {"title": "eval:image"}},
        "5": {"class_type": "GenAssist_Segment", "inputs": {"segmenter": ["3", 0], "image": ["4", 0], "query": "",
                                                           "instances": "union", "grow_px": 0, "feather_px": 0},
              "_meta": {"title": "eval:query"}},
        "6": {"class_type": "MaskToImage", "inputs": {"mask": ["5", 0]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "eval"},
              "_meta": {"title": "eval:output"}},
    }


@pytest.fixture
def dataset(tmp_path):
    data = tmp_path / "ReasonSeg" / "val"
    reasonseg_item(data, "a_desk", SIZE, [rect(4, 4, 30, 30)], text=("the desk",))
    reasonseg_item(data, "b_seat", SIZE, [rect(20, 10, 60, 40)], text=("where one would sit",), is_sentence=True)
    reasonseg_item(data, "c_broken", SIZE, [rect(0, 0, 10, 10)])
    (data / "c_broken.jpg").write_bytes(b"not an image at all")  # the server's LoadImage fails on it
    return data.parent


def answer(request_json) -> str:
    return json.dumps({"explanation": "found", "objects": [{"label": "thing", "box": [100, 100, 600, 700]}]})


def test_workflow_runner_scores_resumes_and_records_failures(comfy_server, tiny, dataset, tmp_path, capsys):
    assert tiny.sam() == "sam_vit_h_4b8939.pth"
    pred, out = tmp_path / "pred", tmp_path / "out"
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with ScriptedOpenAIServer(answer) as mllm:
        workflow = tmp_path / "workflow_api.json"
        workflow.write_text(json.dumps(graph(mllm.base_url)))
        args = ["run-workflow", "reasonseg", "--data", str(dataset), "--split", "val", "--workflow", str(workflow),
                "--server", dead, "--server", comfy_server.url, "--out", str(pred), "--timeout", "300"]
        assert main(args) == 1  # one item failed
        first = capsys.readouterr()
        assert len(mllm.requests) == 2
        summary = json.loads(first.out.strip().splitlines()[-1])
        assert (summary["total"], summary["done"], summary["failed"], summary["skipped"]) == (3, 2, 1, 0)
        assert summary["servers_down"] and dead in summary["servers_down"][0]
        assert "ETA" in first.err and f"ok on {comfy_server.url}" in first.err
        failures = json.loads((pred / "failures.json").read_text())
        assert list(failures) == ["c_broken_0"] and "LoadImage" in failures["c_broken_0"]["error"]

        assert main(args[:-4] + ["--server", comfy_server.url, "--out", str(pred), "--timeout", "300"]) == 1
        second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert (second["skipped"], second["done"], second["failed"]) == (2, 0, 1)
        assert len(mllm.requests) == 2  # finished items were not run again

    masks = {}
    for stem in ("a_desk", "b_seat"):
        with Image.open(pred / f"{stem}_0.png") as image:
            assert image.mode == "L" and image.size == SIZE
            masks[stem] = np.asarray(image) > 127
        assert 0 < masks[stem].mean() < 1
    assert main(["score", "reasonseg", "--data", str(dataset), "--split", "val", "--predictions", str(pred),
                 "--out", str(out)]) == 0
    result = json.loads((out / "results.json").read_text())
    truth = {"a_desk": (4, 4, 30, 30), "b_seat": (20, 10, 60, 40)}
    ious = []
    for stem, (x0, y0, x1, y1) in truth.items():
        target = np.zeros(SIZE[::-1], bool)
        target[y0:y1 + 1, x0:x1 + 1] = True
        ious.append((masks[stem] & target).sum() / (masks[stem] | target).sum())
    assert result["count"] == 2 and result["gIoU"] == pytest.approx(np.mean(ious))
    assert set(result["per_type"]) == {"short", "sentence"}
    assert any("c_broken.jpg: image:" in e for e in result["errors"])
    assert (out / "results.md").is_file() and (out / "best_worst.png").is_file()


def edit_graph() -> dict:
    """Instruction bound to a PrimitiveString (it names the saved file), the image inverted."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}, "_meta": {"title": "eval:image"}},
        "2": {"class_type": "PrimitiveString", "inputs": {"value": ""}, "_meta": {"title": "eval:instruction"}},
        "3": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": ["2", 0]},
              "_meta": {"title": "eval:output"}},
    }


def test_magicbrush_edits_through_a_workflow_are_scored(comfy_server, tmp_path, capsys):
    root, pred, out = magicbrush(tmp_path / "mb", {"100": 2}), tmp_path / "pred", tmp_path / "out"
    workflow = tmp_path / "edit_api.json"
    workflow.write_text(json.dumps(edit_graph()))
    assert main(["run-workflow", "magicbrush", "--data", str(root), "--workflow", str(workflow), "--server",
                 comfy_server.url, "--out", str(pred)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["done"] == 2
    assert {p.name.split("_")[0] for p in comfy_server.output_dir.glob("make it red *.png")} >= {
        "make it red 1", "make it red 2"}
    assert main(["score", "magicbrush", "--data", str(root), "--predictions", str(pred), "--out", str(out)]) == 0
    result = json.loads((out / "results.json").read_text())
    # turn 1: black input inverted to white vs target (10, 20, 30); turn 2: (10, 20, 30) inverted vs (20, 20, 30)
    turn1 = (245 + 235 + 225) / 3 / 255
    turn2 = (225 + 215 + 195) / 3 / 255
    assert result["count"] == 2 and result["L1"] == pytest.approx((turn1 + turn2) / 2, abs=1e-6)


def test_items_past_the_timeout_are_cancelled_recorded_and_run_on_the_next_run(comfy_server, tmp_path, capsys):
    root, pred = magicbrush(tmp_path / "mb", {"7": 2}), tmp_path / "pred"
    workflow = tmp_path / "edit_api.json"
    workflow.write_text(json.dumps(edit_graph()))
    args = ["run-workflow", "magicbrush", "--data", str(root), "--workflow", str(workflow), "--server",
            comfy_server.url, "--out", str(pred)]
    assert main([*args, "--timeout", "0"]) == 1
    failures = json.loads((pred / "failures.json").read_text())
    assert sorted(failures) == ["7_1", "7_2"] and "did not finish within 0s" in failures["7_1"]["error"]
    capsys.readouterr()
    assert main(args) == 0  # the server was left usable; the failed items run now
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["done"] == 2
    assert json.loads((pred / "failures.json").read_text()) == {}
