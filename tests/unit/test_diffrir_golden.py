"""DiffRIR S2 against numbers produced by the original implementation (Zj-BinXia/DiffRIR @ 51ecb5c).

How ``fixtures/diffrir_golden.safetensors`` was made (only numbers are committed, no code of the original):

1. In a scratch folder outside this repository, export ``DiffRIR/archs/{S2_arch,common,attention}.py`` and
   ``ldm/{ddpm,util,util2,ddim}.py`` from the original at commit 51ecb5c. Replace the package
   ``__init__.py`` files of ``DiffRIR``, ``DiffRIR/archs`` and ``ldm`` by empty ones (the real ones pull in
   the whole training stack) and add a stub ``basicsr/utils/registry.py`` whose ``ARCH_REGISTRY.register()``
   returns the class unchanged. Python: this repository's host venv (torch, einops, tqdm, PIL).
2. With ``tests/`` on ``sys.path``, build the original ``DiffRIRS2(n_encoder_res=2, dim=8, scale=S,
   num_blocks=[1,1,1,1], num_refinement_blocks=1, heads=[1,2,4,8], ffn_expansion_factor=2.2,
   LayerNorm_type="BiasFree")`` for S = 1, 2, 4 (CPEN/denoiser width is fixed at 64 -> a 256-d prior), check
   its own DDPM buffers equal ``tiny_models.diffrir.ddpm_buffers()``, ``load_state_dict(strict=True)`` the
   seeded ``tiny_models.diffrir.golden_state_dict(S)`` and switch to eval.
3. Inputs: ``g = torch.Generator().manual_seed(1307)``; reference ``torch.rand(1,3,40,56, generator=g)``;
   binary mask, 1 in rows 8:30 x cols 12:44 and in rows 33:37; then per scale (1, 2, 4 in that order) the
   generated / LQ image ``torch.rand(1,3,40//S,56//S, generator=g)``. The prior's starting noise is
   ``torch.randn(1,256, generator=torch.Generator().manual_seed(100+S))``, which is what
   ``DiffRIRS2.prior_noise(1, 100+S)`` of this pack draws.
4. The original's test path (``DiffIR_S2_model.feed_data`` / ``test`` and ``inference_diffrir.py``): pack
   ``cat([image, (1-mask)*reference])`` at x1, ``cat([LQ, PixelUnshuffle(S)((1-mask)*reference)])`` at x2/x4;
   reflect-pad the packed tensor bottom/right to a multiple of 32/16/8; run the network with
   ``torch.randn`` temporarily replaced by a function returning the noise above (the DDPM's only random
   draw); crop to S x the unpadded size. Record the prior (the second argument of ``G.forward``, taken by
   a forward pre-hook), the cropped output, and at x1 the original's composite
   ``clamp(out*mask + (1-mask)*reference, 0, 1)``; plus the absolute sum of the seeded weights.

The weights are not stored (2.5 M values); they are regenerated from the seed recipe, which the first
test pins. Tolerance: 1e-5 absolute, float32 on the CPU, as the original ran.
"""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from genassist.restoration.diffrir import run_padded
from genassist.restoration.diffrir_checkpoint import load_diffrir
from genassist.restoration.restore import restore_image
from tiny_models import diffrir as tiny_diffrir

FIXTURE = Path(__file__).parent / "fixtures" / "diffrir_golden.safetensors"
SCALES = (1, 2, 4)
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def golden():
    return load_file(str(FIXTURE))


@pytest.fixture(scope="module", params=SCALES, ids=lambda s: f"x{s}")
def case(request, golden, tmp_path_factory):
    """(scale, model loaded through the pack's loader from a basicsr .pth, the fixture's tensors)."""
    scale = request.param
    path = tmp_path_factory.mktemp(f"golden_x{scale}") / "net_g.pth"
    torch.save({"params_ema": tiny_diffrir.golden_state_dict(scale)}, path)
    return scale, load_diffrir(path), golden


def _inputs(scale, golden):
    return golden[f"x{scale}.image"], golden["reference"], golden["mask"], golden[f"x{scale}.noise"]


def _run_capturing_prior(model, image, reference, mask, noise):
    """The network's output and the prior vector its transformer was modulated with."""
    seen = {}
    hook = model.G.register_forward_pre_hook(lambda module, args: seen.update(prior=args[1].clone()))
    try:
        with torch.inference_mode():
            out = run_padded(model, image, reference, mask, noise)
    finally:
        hook.remove()
    return out, seen["prior"]


def test_seeded_weights_are_the_ones_the_fixture_was_made_with(case):
    scale, _, golden = case
    total = sum(float(v.double().abs().sum()) for v in tiny_diffrir.golden_state_dict(scale).values())
    assert total == pytest.approx(float(golden[f"x{scale}.weights_abs_sum"]), rel=1e-9)


def test_seed_draws_the_fixture_noise(case):
    scale, model, golden = case
    assert torch.equal(model.prior_noise(1, 100 + scale), golden[f"x{scale}.noise"])


def test_prior_vector_matches_the_original(case):
    """CPEN + the 4-step x0 sampler on the padded, packed input: the vector every block is modulated by."""
    scale, model, golden = case
    _, prior = _run_capturing_prior(model, *_inputs(scale, golden))
    expected = golden[f"x{scale}.prior"]
    assert prior.shape == expected.shape == (1, 256)
    assert float((prior - expected).abs().max()) <= TOLERANCE


def test_network_output_matches_the_original(case):
    scale, model, golden = case
    out, _ = _run_capturing_prior(model, *_inputs(scale, golden))
    expected = golden[f"x{scale}.output"]
    assert out.shape == expected.shape == golden["reference"].shape
    assert float((out - expected).abs().max()) <= TOLERANCE


def test_x1_restore_equals_the_original_composite(golden, tmp_path):
    path = tmp_path / "net_g.pth"
    torch.save({"params_ema": tiny_diffrir.golden_state_dict(1)}, path)
    model = load_diffrir(path)
    image, reference, mask, _ = _inputs(1, golden)
    restored = restore_image(model, image, reference, mask, seed=101, tile=0)
    assert float((restored - golden["x1.restored"]).abs().max()) <= TOLERANCE
