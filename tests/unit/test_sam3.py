"""SAM 3 on a tiny random-weight folder in the released layout: masks at the image's size, the threshold
checked against the model's own scores, one image-encoder pass for many phrases, the box prompt."""

import sys
import types

import numpy as np
import pytest
import torch
import transformers  # noqa: E402  (a hard dependency: never skipped for being absent)
from PIL import Image

if not hasattr(transformers, "Sam3Model"):
    pytest.skip(f"SAM 3 needs transformers >= 5.0 (this is {transformers.__version__}, without Sam3Model)",
                allow_module_level=True)

from genassist.segmentation.sam3 import Sam3Runner, Sam3UnavailableError, load_sam3, sam3_classes  # noqa: E402


@pytest.fixture(scope="module")
def runner(tiny, models_dir):
    model, processor = load_sam3(str(models_dir / "sams" / tiny.sam3()))
    return Sam3Runner(model, processor)


def photo(height=60, width=90, seed=0):
    return Image.fromarray((np.random.RandomState(seed).rand(height, width, 3) * 255).astype(np.uint8))


def own_scores(runner, image, phrase, box=None):
    """The model's scores, straight from a plain forward pass on the processor's full inputs."""
    kwargs = {"input_boxes": [[list(box)]], "input_boxes_labels": [[1]]} if box else {}
    inputs = runner.processor(images=image, text=phrase, return_tensors="pt", **kwargs)
    inputs.pop("original_sizes")
    with torch.no_grad():
        out = runner.model(**inputs)
    return (out.pred_logits.sigmoid() * out.presence_logits.sigmoid())[0]


def encoder_counter(runner):
    calls = []
    handle = runner.model.vision_encoder.register_forward_hook(lambda *args: calls.append(1))
    return calls, handle


def test_every_instance_above_the_threshold_at_the_images_size(runner):
    image = photo()
    scores = own_scores(runner, image, "vase").sort(descending=True).values
    assert len(set(scores.tolist())) == len(scores) == 10  # distinct scores: every cut below is unambiguous
    for threshold in (0.5, float(scores[2] + scores[3]) / 2, float(scores[0] + scores[1]) / 2, 0.0):
        result = runner.segment(image, "vase", threshold)
        expected = scores[scores > threshold]
        assert result.masks.shape == (len(expected), 60, 90)
        assert torch.allclose(result.scores, expected, atol=1e-5)
        assert set(result.masks.unique().tolist()) <= {0.0, 1.0}
        assert result.boxes.shape == (len(expected), 4)


def test_nothing_above_the_threshold_is_an_empty_result_not_an_error(runner):
    image = photo(seed=1)
    result = runner.segment(image, "vase", threshold=0.999)
    assert result.masks.shape == (0, 60, 90) and result.scores.numel() == 0
    assert result.best_score == pytest.approx(float(own_scores(runner, image, "vase").max()), abs=1e-5)


def test_many_phrases_on_one_image_run_the_vision_encoder_once(runner):
    calls, handle = encoder_counter(runner)
    try:
        image = photo(seed=2)
        results = [runner.segment(image, phrase, 0.0) for phrase in ("vase", "chair", "red car", "dog")]
        assert len(calls) == 1
        runner.segment(photo(seed=3), "vase", 0.0)  # another image: one more pass
        assert len(calls) == 2
    finally:
        handle.remove()
    for phrase, result in zip(("vase", "chair", "red car", "dog"), results):  # reuse changes nothing
        assert torch.allclose(result.scores, own_scores(runner, image, phrase).sort(descending=True).values,
                              atol=1e-5)
    assert not torch.equal(results[0].scores, results[1].scores)  # the phrase matters


def test_box_prompt_reaches_the_model(runner):
    image = photo(seed=4)
    box = (10.0, 5.0, 50.0, 40.0)
    with_box = runner.segment(image, "vase", 0.0, box=box)
    assert torch.allclose(with_box.scores, own_scores(runner, image, "vase", box).sort(descending=True).values,
                          atol=1e-5)
    assert not torch.allclose(with_box.scores, runner.segment(image, "vase", 0.0).scores)


def test_old_transformers_error_names_the_version(monkeypatch):
    assert sam3_classes()[0] is transformers.Sam3Model
    old = types.ModuleType("transformers")
    old.__version__ = "4.57.1"
    monkeypatch.setitem(sys.modules, "transformers", old)
    with pytest.raises(Sam3UnavailableError, match=r"transformers 5.0 or newer .* has transformers 4.57.1"):
        sam3_classes()
