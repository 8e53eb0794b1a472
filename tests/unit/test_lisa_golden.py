"""LISA's mask path ([SEG] hidden-state selection, text_hidden_fcs, SAM prompt encoder and mask decoder,
mask postprocessing) against numbers produced by LISA's own code.

How tests/unit/golden/lisa_mask_path.safetensors was produced (once, outside this repository; only the
numbers are kept): LISA@3cb2d43's ``LISAForCausalLM.evaluate`` and ``get_visual_embs`` ran on CPU, float32,
with ``generate`` replaced by a stub returning fixed ``sequences`` and last-layer hidden states (what
LISA's generate yields with use_cache off). The SAM was built from LISA's segment_anything classes in
_build_sam's structure with small widths (ViT 32-d, 2 blocks, window 8, global block 1, 256-px input,
16-px patches; prompt dim 32; two-way decoder of depth 2, 8 heads, MLP 64), and ``text_hidden_fcs`` by
LISA's ``initialize_lisa_modules`` (hidden 32 -> 32); parameters are seeded random values rounded to
float16 (stored so, exactly). Input: a seeded random 72x48 RGB image through chat.py's SAM preprocessing
(ResizeLongestSide(256), ``preprocess(img_size=256)``), and the ids below: BOS, prompt, <im_start>, the
image placeholder -200, <im_end>, question, answer with two [SEG] (id 32000), EOS. Stored: the
checkpoint-layout weights (model.visual_model.*, model.text_hidden_fcs.*), the image, the ids, the hidden
states [T + 254, 32] and evaluate()'s mask logits [2, 48, 72].
"""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from genassist.mllm import weights
from genassist.mllm.image_tokens import splice_image_features
from genassist.segmentation.lisa import FCS_PREFIX, SAM_PREFIX, build_text_hidden_fcs, seg_mask_logits
from genassist.segmentation.sam_model import sam_from_state_dict
from genassist.segmentation.sam_predict import SamPredictor

FIXTURE = Path(__file__).parent / "golden" / "lisa_mask_path.safetensors"
SEG = 32000
CLIP_PATCHES = 256  # LISA's CLIP-L/14 at 224 px: the image placeholder stands for 256 positions


@pytest.fixture(scope="module")
def golden():
    return load_file(str(FIXTURE))


@pytest.fixture(scope="module")
def parts(golden):
    state = dict(golden)
    sam, spec = sam_from_state_dict(weights.split_prefix(state, SAM_PREFIX), torch.float32)
    fcs = build_text_hidden_fcs({k: v.float() for k, v in weights.split_prefix(state, FCS_PREFIX).items()})
    assert spec.image_size == 256 and spec.prompt_dim == 32
    return SamPredictor(sam.eval()), fcs.eval()


def index_map_of(ids: torch.Tensor) -> torch.Tensor:
    """Where each token lands once the placeholder is expanded (the embeddings are not used here)."""
    _, index_map = splice_image_features(ids, torch.nn.Embedding(SEG + 3, 1), [torch.zeros(CLIP_PATCHES, 1)])
    return index_map


def test_fixture_is_small():
    assert FIXTURE.stat().st_size < 400_000


def test_mask_logits_match_lisas_code(golden, parts):
    predictor, fcs = parts
    ids, hidden = golden["input.output_ids"], golden["input.hidden_states"].float()
    assert int((ids == SEG).sum()) == 2 and hidden.shape[0] == ids.shape[0] + 254
    image = golden["input.image"].numpy()
    with torch.inference_mode():
        logits = seg_mask_logits(predictor, fcs, image, ids, index_map_of(ids), hidden, SEG)
    expected = golden["output.mask_logits"]
    assert logits.shape == expected.shape == (2, 48, 72)
    assert (logits - expected).abs().max() <= 1e-5
    assert 0.05 < float((expected > 0).float().mean()) < 0.95, "the golden masks are neither empty nor full"


def test_selecting_the_seg_tokens_own_state_would_fail(golden, parts):
    """Off by one (the [SEG] position itself instead of the one before it) gives other masks: the match
    above pins LISA's selection, not only the SAM part."""
    predictor, fcs = parts
    ids, hidden = golden["input.output_ids"], golden["input.hidden_states"].float()
    shifted = torch.cat([hidden[1:], hidden[-1:]])
    with torch.inference_mode():
        logits = seg_mask_logits(predictor, fcs, golden["input.image"].numpy(), ids, index_map_of(ids),
                                 shifted, SEG)
    assert (logits - golden["output.mask_logits"]).abs().max() > 1e-3
