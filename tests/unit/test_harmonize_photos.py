"""HarmonizeSeams on real photos (scikit-image samples) with DiffRIR's training colour error.

The generated region gets DiffRIR's add_lumi_error: one gain in [0.92, 1.08] and one bias in
[-0.05, 0.05] per image, same for all channels. Compared with no correction and with a plain
global mean/std transfer (generated-region statistics mapped onto the preserved region's).
"""

import logging

import numpy as np
import pytest
import torch
from skimage import data as skimage_data

from genassist.restoration.harmonize import harmonize_seams
from genassist.restoration.masked_filters import dilate, masked_blur

log = logging.getLogger(__name__)
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")


def photo(name: str) -> torch.Tensor:
    return torch.from_numpy(getattr(skimage_data, name)()).permute(2, 0, 1)[None].float() / 255


def masks(height: int, width: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """The three kinds DiffRIR trains on: a box, outpainting borders, irregular blobs."""
    box = torch.zeros(1, 1, height, width)
    box[..., int(height * 0.3):int(height * 0.3) + height // 3, int(width * 0.25):int(width * 0.25) + width // 3] = 1
    border = torch.zeros(1, 1, height, width)
    border[..., :, int(width * 0.7):] = 1
    border[..., :int(height * 0.2), :] = 1
    blobs = torch.zeros(1, 1, height, width)
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    for _ in range(3):
        cy, cx, r = (torch.rand(3, generator=gen) * torch.tensor([height, width, 1.0])).tolist()
        radius = 0.1 * min(height, width) + 20 * r
        blobs[0, 0][(yy - cy) ** 2 + (xx - cx) ** 2 < radius**2] = 1
    return {"box": box, "outpaint": border, "blobs": blobs}


def lumi_error(truth, mask, gen):
    gain = 1 + (torch.rand(1, generator=gen) * 2 - 1) * 0.08
    bias = (torch.rand(1, generator=gen) * 2 - 1) * 0.05
    return torch.where(mask > 0, (truth * gain + bias).clamp(0, 1), truth)


def global_transfer(image, reference, mask):
    out = image.clone()
    hole = (mask > 0)[0, 0]
    for c in range(3):
        g, p = image[0, c][hole], reference[0, c][~hole]
        out[0, c][hole] = ((g - g.mean()) / g.std().clamp_min(1e-6) * p.std() + p.mean()).clamp(0, 1)
    return torch.where(mask > 0, out, reference)


def in_mask_error(out, truth, mask) -> float:
    return float((out - truth).abs()[(mask > 0).expand_as(truth)].mean())


def seam_step(out, mask, width: int = 4) -> float:
    """Mean |local mean just inside - local mean just outside| along the seam."""
    hole = mask > 0
    inside, _ = masked_blur(out, (dilate(~hole, width) & hole).float(), width / 2)
    outside, _ = masked_blur(out, (dilate(hole, width) & ~hole).float(), width / 2)
    seam = (dilate(~hole, 1) & dilate(hole, 1)).expand_as(out)
    return float((inside - outside).abs()[seam].mean())


@pytest.fixture(scope="module")
def table():
    gen = torch.Generator().manual_seed(0)
    rows = []
    for name in PHOTOS:
        truth = photo(name)
        for kind, mask in masks(*truth.shape[-2:], gen).items():
            image = lumi_error(truth, mask, gen)
            reference = truth * (1 - mask)  # zero-filled hole, as DiffRIR feeds it
            results = {"none": torch.where(mask > 0, image, reference),
                       "global": global_transfer(image, reference, mask),
                       "ours": harmonize_seams(image, reference, mask)}
            row = {"case": f"{name}/{kind}", "truth_step": seam_step(truth, mask)}
            for method, out in results.items():
                row[f"{method}_error"] = in_mask_error(out, truth, mask)
                row[f"{method}_step"] = seam_step(out, mask)
            rows.append(row)
            log.info("%-28s error none %.4f global %.4f ours %.4f | step truth %.4f none %.4f global %.4f ours %.4f",
                     row["case"], row["none_error"], row["global_error"], row["ours_error"], row["truth_step"],
                     row["none_step"], row["global_step"], row["ours_step"])
    means = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "case"}
    log.info("mean %s", " ".join(f"{k}={v:.4f}" for k, v in means.items()))
    return rows, means


def test_in_mask_error_drops_below_no_correction_and_global_transfer(table):
    rows, means = table
    assert means["ours_error"] < 0.6 * means["none_error"]
    assert means["ours_error"] < 0.3 * means["global_error"]
    assert sum(r["ours_error"] < r["none_error"] for r in rows) >= 0.7 * len(rows)


def test_seam_colour_step_drops(table):
    rows, means = table
    assert means["ours_step"] < 0.7 * means["none_step"]
    assert means["ours_step"] < 0.5 * means["global_step"]
    assert sum(r["ours_step"] < r["none_step"] for r in rows) >= 0.7 * len(rows)
