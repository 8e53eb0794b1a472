"""The legacy LLaVA image path (LLMGA's square stretch, CLIP preprocessing, CLIP tower layer -2 patch
features, mlp2x_gelu projector) against numbers produced by LLMGA's own code.

How tests/unit/golden/llava_projector.safetensors was produced (once, outside this repository; only the
numbers are kept): LLMGA@7e32eb6's ``build_vision_tower`` (``CLIPVisionTower``: CLIPImageProcessor +
CLIPVisionModel, ``feature_select``), ``build_vision_projector`` and ``LlavaMetaForCausalLM.encode_images``
ran under transformers 4.37.2 (LLMGA's pin) on CPU, float32. The tower is a CLIPVisionModel (hidden 64,
2 layers, one 64-d head as in CLIP-L, 112 px, 14 px patches) and the projector mlp2x_gelu 64 -> 48, with seeded random values
rounded to float16 (stored so, exactly). Config: mm_vision_select_layer -2, mm_vision_select_feature patch.
Input: a seeded random 60x40 RGB photo, made square as cli-sd15.py does (resize to the long side,
LANCZOS), then ``image_processor.preprocess``. Stored: the checkpoint-layout weights
(model.vision_tower.vision_tower.vision_model.*, model.mm_projector.*), the photo, and encode_images'
output [64, 48].
"""

from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from genassist.mllm import weights
from genassist.mllm.legacy_llava import (
    PROJECTOR_PREFIX,
    LegacyLlava,
    LegacyLlavaSpec,
    build_projector,
    build_vision_tower,
)

FIXTURE = Path(__file__).parent / "golden" / "llava_projector.safetensors"


class NoLanguageModel(torch.nn.Module):
    """Stands in for the language model, which this path does not use (LegacyLlava reads its dtype/device)."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))


@pytest.fixture(scope="module")
def golden():
    return load_file(str(FIXTURE))


@pytest.fixture(scope="module")
def llava(golden):
    state = {k: v.float() for k, v in golden.items() if k.startswith("model.")}
    spec = LegacyLlavaSpec(name="llmga-tiny", backbone="llama", backbone_config={}, projector_type="mlp2x_gelu",
                           mm_hidden_size=64, hidden_size=48, vision_tower="openai/clip-vit-tiny-patch14-112",
                           select_layer=-2, select_feature="patch", image_mode="stretch")
    projector = build_projector(spec.projector_type, spec.mm_hidden_size, spec.hidden_size)
    projector.load_state_dict(weights.split_prefix(state, PROJECTOR_PREFIX))
    tower = build_vision_tower(state)
    assert not state, f"weights left unused: {sorted(state)}"
    return LegacyLlava(spec, NoLanguageModel(), projector, tower).eval()


def test_fixture_is_small():
    assert FIXTURE.stat().st_size < 300_000


def test_projected_features_match_llmgas_code(golden, llava):
    photo = Image.fromarray(golden["input.image"].numpy())
    assert photo.size == (60, 40)
    with torch.inference_mode():
        features = llava.encode_images(llava.pixel_values([photo]))[0]
    expected = golden["output.features"]
    assert features.shape == expected.shape == (64, 48)  # (112 / 14)^2 patches, CLS dropped
    assert (features - expected).abs().max() <= 1e-5


def test_the_golden_sees_the_penultimate_layer(golden, llava):
    """The same weights with the last layer's output instead give different features: the comparison
    above pins the layer choice, not just the shapes."""
    photo = Image.fromarray(golden["input.image"].numpy())
    from genassist.mllm.clip_vision import clip_patch_features

    with torch.inference_mode():
        last = llava.projector(clip_patch_features(llava.vision_tower, llava.pixel_values([photo]), -1, "patch"))
    assert (last[0] - golden["output.features"]).abs().max() > 1e-2
