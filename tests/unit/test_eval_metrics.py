"""The papers' metrics against hand-computed values: LISA's gIoU/cIoU (ignore regions, empty targets,
predictions of another size) and MagicBrush's L1/L2 at its 512x512 evaluation size."""

import numpy as np
import pytest
from PIL import Image

from genassist.evaluation.image_metrics import l1_l2
from genassist.evaluation.mask_metrics import MaskCounts, ciou, giou, load_prediction_mask, mask_counts
from genassist.evaluation.reasonseg import rasterize, read_reasonseg
from genassist.evaluation.score_reasonseg import score_reasonseg
from harness.eval_datasets import reasonseg_item, rect, save_mask


def test_ignore_pixels_count_neither_in_intersection_nor_union():
    target = np.zeros((4, 4), np.uint8)
    target[0, :] = 1          # 4 target pixels
    target[1, :2] = 255       # 2 ignored pixels
    prediction = np.zeros((4, 4), bool)
    prediction[0, :2] = True  # 2 of the target
    prediction[1, :] = True   # 2 on ignored pixels (not counted) + 2 false positives
    counts = mask_counts(prediction, target)
    assert (counts.intersection, counts.union) == (2, 4 + 2)
    assert counts.iou == pytest.approx(2 / 6)


def test_empty_target_matched_by_empty_prediction_counts_one_and_missed_counts_zero():
    empty = np.zeros((3, 3), np.uint8)
    assert mask_counts(np.zeros((3, 3), bool), empty).iou == 1.0
    wrong = np.zeros((3, 3), bool)
    wrong[0, 0] = True
    assert mask_counts(wrong, empty).iou == 0.0


def test_giou_is_the_mean_of_ious_and_ciou_the_ratio_of_sums():
    counts = [MaskCounts(1, 4), MaskCounts(3, 3), MaskCounts(0, 0)]  # IoUs 0.25, 1, 1 (empty/empty)
    assert giou(counts) == pytest.approx((0.25 + 1 + 1) / 3)
    assert ciou(counts) == pytest.approx((1 + 3 + 0) / (4 + 3 + 0))


def test_size_mismatch_is_refused_but_a_saved_prediction_is_resized_to_the_image(tmp_path):
    with pytest.raises(ValueError, match="differ in size"):
        mask_counts(np.zeros((2, 2), bool), np.zeros((4, 4), np.uint8))
    half = np.zeros((2, 3), bool)
    half[0, 1] = True
    save_mask(tmp_path / "m.png", half)
    resized = load_prediction_mask(tmp_path / "m.png", (6, 4))  # nearest: each pixel becomes 2x2
    assert resized.shape == (4, 6) and resized.sum() == 4 and resized[:2, 2:4].all()


def test_polygons_follow_lisas_reader_flag_skipped_ignore_255_smaller_drawn_last():
    shapes = [rect(0, 0, 5, 5, "ignore"), rect(1, 1, 2.9, 2.9), rect(0, 0, 9, 9, "flag")]
    mask = rasterize(shapes, (8, 8))
    assert mask[1:3, 1:3].tolist() == [[1, 1], [1, 1]]  # 2.9 truncates to 2, outline included
    assert (mask == 1).sum() == 4 and (mask == 255).sum() == 36 - 4
    assert mask[6:, :].max() == 0  # the flag polygon is not drawn


def test_reasonseg_scores_by_hand_across_image_sizes_types_ignore_and_missing(tmp_path):
    data, pred = tmp_path / "val", tmp_path / "pred"
    reasonseg_item(data, "a", (10, 8), [rect(0, 0, 3, 1)], is_sentence=False)            # 8 target pixels
    reasonseg_item(data, "b", (20, 16), [rect(0, 0, 1, 1), rect(10, 10, 19, 15, "ignore")],
                   text=("the one that...", "second query"), is_sentence=True)           # 4 target pixels
    reasonseg_item(data, "c", (6, 6), [], is_sentence=True)                                # empty target
    pa = np.zeros((8, 10), bool)
    pa[0, :] = True                                     # 4 hits + 6 false positives: IoU 4/(8+6)
    save_mask(pred / "a_0.png", pa)
    pb = np.zeros((8, 10), bool)                        # half size of b: resized x2 (nearest)
    pb[0, 0] = True                                     # -> the 2x2 target exactly
    pb[5:, 5:] = True                                   # -> only ignored pixels: not counted
    save_mask(pred / "b_0.png", pb)
    save_mask(pred / "b_1.png", np.ones((16, 20), bool))  # second query: not scored by default
    result = score_reasonseg(read_reasonseg(tmp_path, "val").items, pred)  # c_0.png missing: empty
    ious = {r["key"]: r["iou"] for r in result["items"]}
    assert ious == pytest.approx({"a_0": 4 / 14, "b_0": 1.0, "c_0": 1.0})
    assert result["gIoU"] == pytest.approx((4 / 14 + 1 + 1) / 3)
    assert result["cIoU"] == pytest.approx((4 + 4 + 0) / (14 + 4 + 0))
    assert result["missing"] == 1 and result["count"] == 3
    assert result["per_type"]["short"]["gIoU"] == pytest.approx(4 / 14)
    assert result["per_type"]["sentence"]["cIoU"] == pytest.approx(1.0)
    every = score_reasonseg(read_reasonseg(tmp_path, "val").items, pred, queries="all")
    assert {r["key"] for r in every["items"]} == {"a_0", "b_0", "b_1", "c_0"}
    b1 = next(r for r in every["items"] if r["key"] == "b_1")
    assert b1["iou"] == pytest.approx(4 / (20 * 16 - 60))  # all pixels predicted, the 60 ignored excluded


def test_l1_l2_by_hand_at_512():
    black = Image.new("RGB", (512, 512), (0, 0, 0))
    gray = Image.new("RGB", (512, 512), (51, 102, 153))
    l1, l2 = l1_l2(gray, black)
    assert l1 == pytest.approx((0.2 + 0.4 + 0.6) / 3)
    assert l2 == pytest.approx((0.04 + 0.16 + 0.36) / 3)
    half = np.zeros((512, 512, 3), np.uint8)
    half[:, :256] = 255
    l1, l2 = l1_l2(Image.fromarray(half), black)
    assert (l1, l2) == pytest.approx((0.5, 0.5))


def test_l1_l2_bring_a_prediction_of_another_size_to_the_evaluation_size():
    small = Image.new("RGB", (64, 48), (255, 255, 255))  # uniform: bicubic keeps it uniform
    l1, l2 = l1_l2(small, Image.new("RGB", (512, 512), (0, 0, 0)))
    assert (l1, l2) == pytest.approx((1.0, 1.0))
    rgba = Image.new("RGBA", (512, 512), (255, 0, 0, 0))  # RGBA and grayscale are taken as RGB
    assert l1_l2(rgba, Image.new("L", (300, 300), 0))[0] == pytest.approx(1 / 3)
