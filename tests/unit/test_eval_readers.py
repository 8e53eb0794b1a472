"""The dataset readers on small datasets in the published layouts, malformed items named while the rest
still run, and the scoring command line in its stable form (python -m evaluation score ...)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genassist.evaluation.magicbrush import read_magicbrush
from genassist.evaluation.reasonseg import read_reasonseg
from harness.eval_datasets import magicbrush, reasonseg_item, rect, save_mask

PACK = Path(__file__).resolve().parents[2]


def test_reasonseg_reader_layout_split_limit_and_cp1252(tmp_path):
    reasonseg_item(tmp_path / "val", "b", (8, 8), [rect(0, 0, 2, 2)], text=("x", "y"), is_sentence=True)
    reasonseg_item(tmp_path / "val", "a", (8, 8), [rect(0, 0, 1, 1)])
    (tmp_path / "val" / "c.jpg").write_bytes((tmp_path / "val" / "a.jpg").read_bytes())
    (tmp_path / "val" / "c.json").write_bytes(
        '{"text": ["caf\xe9 table"], "is_sentence": false, "shapes": []}'.encode("cp1252"))
    read = read_reasonseg(tmp_path, "val")
    assert [i.stem for i in read.items] == ["a", "b", "c"] and read.errors == []
    assert read.items[1].queries == ["x", "y"] and read.items[1].query_type == "sentence"
    assert read.items[2].queries == ["caf\xe9 table"]
    assert [i.stem for i in read_reasonseg(tmp_path, "val", limit=2).items] == ["a", "b"]
    with pytest.raises(FileNotFoundError, match="no 'test' folder"):
        read_reasonseg(tmp_path, "test")


@pytest.mark.parametrize("content,named", [
    ({"is_sentence": False, "shapes": []}, "text"),
    ({"text": ["q"], "shapes": []}, "is_sentence"),
    ({"text": ["q"], "is_sentence": False, "shapes": [{"label": "target", "points": [[0, 0], [1]]}]},
     "shapes[0].points"),
    ("{not json", "file"),
])
def test_a_malformed_reasonseg_item_is_named_and_the_rest_are_read(tmp_path, content, named):
    reasonseg_item(tmp_path, "good", (8, 8), [rect(0, 0, 1, 1)])
    reasonseg_item(tmp_path, "bad", (8, 8), [])
    (tmp_path / "bad.json").write_text(content if isinstance(content, str) else json.dumps(content))
    read = read_reasonseg(tmp_path)
    assert [i.stem for i in read.items] == ["good"]
    (error,) = read.errors
    assert error.startswith(f"{tmp_path / 'bad.json'}: {named}:")


def test_magicbrush_reader_turns_captions_and_limit(tmp_path):
    root = magicbrush(tmp_path / "test", {"200": 1, "100": 2},
                      captions={"100": {"100-output2.png": "a red car"}})
    read = read_magicbrush(tmp_path, "test")
    assert [t.key for t in read.items] == ["100_1", "100_2", "200_1"] and read.errors == []
    second = read.items[1]
    assert second.input_path == root / "images" / "100" / "100-output1.png"
    assert second.output_path.name == "100-output2.png" and second.mask_path.name == "100-mask2.png"
    assert second.instruction == "make it red 2" and second.caption == "a red car"
    assert read.items[0].caption is None
    assert len(read_magicbrush(root, limit=2).items) == 2


def test_a_malformed_magicbrush_turn_is_named_and_the_rest_are_read(tmp_path):
    root = magicbrush(tmp_path, {"100": 2, "200": 1})
    sessions = json.loads((root / "edit_sessions.json").read_text())
    del sessions["100"][1]["instruction"]
    sessions["200"][0]["output"] = "200-output9.png"
    (root / "edit_sessions.json").write_text(json.dumps(sessions))
    read = read_magicbrush(root)
    assert [t.key for t in read.items] == ["100_1"]
    assert read.errors[0] == f"{root / 'edit_sessions.json'}: ['100'][1].instruction: missing or empty"
    assert read.errors[1].startswith(f"{root / 'edit_sessions.json'}: ['200'][0].output: file ")


def run_cli(*args, cwd=PACK, module=True):
    command = [sys.executable, "-m", "evaluation", *args] if module else [sys.executable, *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_score_reasonseg_command_writes_results_table_and_figure(tmp_path):
    data, pred, out = tmp_path / "ReasonSeg", tmp_path / "pred", tmp_path / "out"
    reasonseg_item(data / "val", "img1", (12, 10), [rect(0, 0, 5, 4)], is_sentence=True)
    reasonseg_item(data / "val", "img2", (12, 10), [rect(6, 5, 11, 9)])
    reasonseg_item(data / "val", "broken", (12, 10), [])
    (data / "val" / "broken.json").write_text('{"text": [], "is_sentence": true, "shapes": []}')
    truth = np.zeros((10, 12), bool)
    truth[0:5, 0:6] = True
    save_mask(pred / "img1_0.png", truth)                 # perfect: IoU 1
    save_mask(pred / "img2_0.png", np.zeros((10, 12), bool))  # nothing: IoU 0
    done = run_cli("score", "reasonseg", "--data", str(data), "--split", "val", "--predictions", str(pred),
                   "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"{data / 'val' / 'broken.json'}: text:" in done.stderr
    result = json.loads((out / "results.json").read_text())
    assert (result["gIoU"], result["cIoU"]) == pytest.approx((0.5, 30 / 60))
    assert result["per_type"]["sentence"]["gIoU"] == 1.0 and result["per_type"]["short"]["gIoU"] == 0.0
    assert result["errors"] and "broken.json" in result["errors"][0]
    table = (out / "results.md").read_text()
    assert "| sentence | 1 | 0 | 100.0000 | 100.0000 |" in table and "| short | 1 | 0 | 0.0000 | 0.0000 |" in table
    with Image.open(out / "best_worst.png") as figure:
        assert figure.format == "PNG" and figure.width > 2 * 160
    again = run_cli(str(PACK / "scripts" / "evaluate.py"), "score", "reasonseg", "--data", str(data / "val"),
                    "--predictions", str(pred), "--out", str(tmp_path / "again"), cwd=tmp_path, module=False)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "again" / "results.json").read_text())["gIoU"] == 0.5


def test_score_magicbrush_command_l1_l2_and_missing(tmp_path):
    root, pred, out = magicbrush(tmp_path / "mb", {"100": 2}), tmp_path / "pred", tmp_path / "out"
    pred.mkdir()
    Image.new("RGB", (64, 64), (10 + 51, 20, 30)).save(pred / "100_1.png")  # target (10,20,30): red off by 51
    done = run_cli("score", "magicbrush", "--data", str(root), "--predictions", str(pred), "--out", str(out))
    assert done.returncode == 0, done.stderr
    result = json.loads((out / "results.json").read_text())
    assert result["L1"] == pytest.approx(0.2 / 3) and result["L2"] == pytest.approx(0.04 / 3)
    assert result["count"] == 2 and result["missing"] == 1 and "CLIP-I" not in result
    assert (out / "best_worst.png").is_file()


def test_the_command_line_runs_as_genassist_evaluation_inside_the_pack_package(tmp_path):
    code = ("import sys, runpy; sys.path.append(sys.argv[1]); from harness.pack import register_pack; "
            "register_pack(); sys.argv = ['genassist.evaluation', 'score', '--help']; "
            "runpy.run_module('genassist.evaluation', run_name='__main__', alter_sys=True)")
    done = subprocess.run([sys.executable, "-c", code, str(PACK / "tests")], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--predictions" in done.stdout
