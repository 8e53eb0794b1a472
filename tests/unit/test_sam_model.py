"""SAM architecture read from the weights: official ViT-H/L/B shapes, the tiny test model, safe loading."""

import numpy as np
import pytest
import torch

from genassist.segmentation.sam_model import read_weights, sam_from_state_dict, spec_from_state_dict
from genassist.segmentation.sam_predict import Prompt, SamPredictor
from tiny_models import sam as tiny_sam


@pytest.mark.parametrize("variant,embed,depth,heads,globals_", [
    ("vit_h", 1280, 32, 16, (7, 15, 23, 31)),
    ("vit_l", 1024, 24, 16, (5, 11, 17, 23)),
    ("vit_b", 768, 12, 12, (2, 5, 8, 11)),
])
def test_official_architectures_are_detected_from_shapes(variant, embed, depth, heads, globals_):
    from segment_anything import sam_model_registry

    with torch.device("meta"):
        official = sam_model_registry[variant]()
    spec = spec_from_state_dict(official.state_dict())
    assert spec.variant == variant
    assert (spec.embed_dim, spec.depth, spec.num_heads, spec.global_attn_indexes) == (embed, depth, heads, globals_)
    assert (spec.window_size, spec.image_size, spec.patch_size, spec.prompt_dim) == (14, 1024, 16, 256)
    assert (spec.decoder_depth, spec.decoder_mlp_dim, spec.iou_head_hidden_dim, spec.mask_in_chans) == (2, 2048, 256, 16)


def test_tiny_sam_round_trips_and_loads_strictly():
    state = tiny_sam.state_dict()
    sam, spec = sam_from_state_dict(state)
    assert spec == tiny_sam.tiny_spec()
    assert spec.variant.startswith("custom")
    loaded = sam.state_dict()
    assert set(loaded) == set(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    broken = dict(state)
    broken["mask_decoder.extra.weight"] = torch.zeros(1)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        sam_from_state_dict(broken)


def test_not_a_sam_state_dict_is_a_clear_error():
    with pytest.raises(ValueError, match="not a segment-anything state dict"):
        spec_from_state_dict({"model.embed_tokens.weight": torch.zeros(2, 2)})


class Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pickles_are_read_with_weights_only(tmp_path):
    evil = tmp_path / "evil.pth"
    torch.save({"image_encoder.x": Payload()}, evil)
    with pytest.raises(ValueError, match="cannot be read safely"):
        read_weights(str(evil))
    good = tmp_path / "tiny.safetensors"
    from safetensors.torch import save_file

    save_file(tiny_sam.state_dict(), str(good))
    assert spec_from_state_dict(read_weights(str(good))) == tiny_sam.tiny_spec()


def test_box_masks_equal_segment_anythings_own_predictor():
    """Our preprocessing, prompt scaling and postprocessing give the official SamPredictor's logits."""
    from segment_anything import SamPredictor as OfficialPredictor

    sam, _ = sam_from_state_dict(tiny_sam.state_dict())
    rng = np.random.RandomState(3)
    image = (rng.rand(180, 410, 3) * 255).astype(np.uint8)
    box = (40.0, 30.0, 300.0, 150.0)
    official = OfficialPredictor(sam)
    official.set_image(image)
    reference, _, _ = official.predict(box=np.array(box), multimask_output=False, return_logits=True)
    ours = SamPredictor(sam)
    logits = ours.masks_for_prompts(ours.embed(image), [Prompt(box=box)])
    assert logits.shape == (1, 180, 410)
    np.testing.assert_allclose(logits[0].numpy(), reference[0], atol=1e-4)
    assert 0.05 < (logits > 0).float().mean() < 0.95  # both polarities occur, so equality means something
    points = ours.masks_for_prompts(ours.embed(image), [Prompt(points=[(100.0, 90.0)])])
    ref_points, _, _ = official.predict(point_coords=np.array([[100.0, 90.0]]), point_labels=np.array([1]),
                                        multimask_output=False, return_logits=True)
    np.testing.assert_allclose(points[0].numpy(), ref_points[0], atol=1e-4)
