"""ReasonSeg predictions straight from the pack's LISA (tiny weights): LISA's validation questions, one
mask per query at the image's size, resumable, a broken item recorded while the rest finish."""

import json

import numpy as np
import pytest
from PIL import Image

from genassist.evaluation.cli import main
from genassist.evaluation.predict_lisa import lisa_val_question
from genassist.segmentation.lisa import load_lisa
from harness.eval_datasets import reasonseg_item, rect
from tiny_models import lisa as tiny_lisa


@pytest.fixture(scope="module")
def folders(tiny, models_dir):
    return str(models_dir / "LLM" / tiny.lisa()), str(models_dir / "LLM" / tiny_lisa.CLIP_NAME)


def test_questions_are_lisas_validation_forms():
    assert lisa_val_question(" the sofa ", False) == "What is the sofa in this image? Please output segmentation mask."
    assert lisa_val_question("Where would one sit?", True) == "Where would one sit? Please output segmentation mask."


def test_predict_command_writes_masks_resumes_and_records_a_broken_item(folders, tmp_path, capsys):
    data, pred = tmp_path / "ReasonSeg", tmp_path / "pred"
    reasonseg_item(data, "one", (70, 50), [rect(0, 0, 20, 20)], text=("the chair",))
    reasonseg_item(data, "two", (40, 60), [rect(5, 5, 30, 30)], text=("what holds the books",), is_sentence=True)
    reasonseg_item(data, "zz_broken", (8, 8), [])
    (data / "zz_broken.jpg").write_bytes(b"garbage")
    args = ["predict", "reasonseg", "--lisa", folders[0], "--vision-tower", folders[1], "--data", str(data),
            "--out", str(pred)]
    assert main(args) == 1
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["done"], summary["failed"]) == (2, 1)
    assert list(json.loads((pred / "failures.json").read_text())) == ["zz_broken_0"]
    model = load_lisa(*folders)
    for stem, question in (("one", lisa_val_question("the chair", False)),
                           ("two", lisa_val_question("what holds the books", True))):
        with Image.open(data / f"{stem}.jpg") as loaded:
            image = loaded.convert("RGB")
        expected = (model.segment(image, question).logits[0] > 0).numpy()
        with Image.open(pred / f"{stem}_0.png") as saved:
            assert saved.size == image.size
            assert np.array_equal(np.asarray(saved) > 127, expected)
    assert main(args) == 1
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (again["skipped"], again["done"], again["failed"]) == (2, 0, 1)
