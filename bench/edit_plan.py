"""Complex-edit speed and memory, as ratios measured in the same run.

1. Crop vs whole image: one inpainting step on a size x size image with a centred mask covering 10 % of it,
   (a) through the region routine (crop a context window, inpaint it at --resolution, stitch) and (b) the
   whole image inpainted at full size with the same mask. Time and peak memory (CUDA: peak allocated;
   CPU: peak resident set growth, sampled) of each, and crop / whole.
2. Apply Edit Plan overhead: N steps through GenAssist_ApplyEditPlan vs the same work wired by hand from
   core nodes (CLIPTextEncode, InpaintModelConditioning, KSampler, VAEDecode, ImageCompositeMasked per step).
   The window is made the whole image (context covers it, resolution = image size, no grow/feather) so
   both do the same sampling and VAE work; the ratio is the cost of our loop, geometry and logging.
   Harmonize off (like for like) and on (what it adds) are both reported.

Models: the tiny SD1.5-inpainting test checkpoint (full-size VAE and CLIP-L, a one-level UNet with random
weights), so VAE and text-encoder costs are real and the UNet is cheap. A fixed-mask segmenter stands in
for LISA/SAM (its cost is the same in both arms and is not what is measured).

    .host/venv/bin/python bench/edit_plan.py [--size 512] [--resolution 256] [--context 32] [--plan-size 128]
                                             [--plan-steps 3] [--sampler-steps 2] [--repeats 2] [--gpu]
    (the defaults fit a small shared CPU; on a GPU: --gpu --size 1024 --resolution 512 --context 64
    --plan-size 512 --sampler-steps 20 --repeats 5)
"""

import argparse
import importlib
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import _pack  # noqa: F401  (the pack as genassist, the tests' harness)

PACK = Path(__file__).resolve().parents[1]

from long_prompt import interleaved_medians  # noqa: E402  (bench/ is the script's own folder)

from harness import host  # noqa: E402
from harness.inprocess import node, start_comfy  # noqa: E402

log = logging.getLogger("bench.edit_plan")
PROMPT = "a tall clear glass of dark soda with ice cubes, standing on a wooden table"
NEGATIVE = "blurry, low quality"


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Peak CUDA memory allocated, or peak resident-set growth on CPU (sampled every 5 ms)."""

    def __init__(self, device):
        self.device, self.peak, self.running = device, 0, False

    def __enter__(self):
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        self.base, self.peak, self.running = rss_bytes(), rss_bytes(), True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.005)

    def __exit__(self, *exc):
        import torch

        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self.running = False
            self.thread.join()
            self.peak = max(self.peak, rss_bytes())
        self.used = self.peak - self.base


def centred_mask(size: int, fraction: float):
    import torch

    side = int(round(size * fraction ** 0.5))
    mask = torch.zeros(size, size)
    start = (size - side) // 2
    mask[start:start + side, start:start + side] = 1
    return mask


def crop_vs_whole(glue, parts, size: int, resolution: int, context: int, sampler_steps: int, repeats: int,
                  device) -> None:
    import torch

    model, clip, vae = parts
    image = torch.rand(1, size, size, 3, generator=torch.Generator().manual_seed(0))
    mask = centred_mask(size, 0.10)
    sampling = glue.SamplingSettings(1, sampler_steps, 5.0, "euler", "normal", 1.0)
    positive, negative = glue.encode_text(clip, PROMPT), glue.encode_text(clip, NEGATIVE)

    def cropped():
        return glue.inpaint_region(model, clip, vae, image, mask, positive, negative, sampling, grow_px=8,
                                   feather_px=16, context_px=context, resolution=resolution)

    def whole():
        return glue.inpaint_window(model, clip, vae, image, mask, positive, negative, sampling)

    medians = interleaved_medians({"crop": cropped, "whole": whole}, repeats)
    memory = {}
    for name, fn in (("crop", cropped), ("whole", whole)):
        with PeakMemory(device) as peak:
            fn()
        memory[name] = peak.used
    plan = cropped()[1]
    log.info("1. one step, %dx%d image, 10%% mask, %d sampler steps (crop window %dx%d -> %dx%d)", size, size,
             sampler_steps, plan.window.width, plan.window.height, plan.window.work_width, plan.window.work_height)
    log.info("   crop : %8.3f s  peak %8.1f MiB", medians["crop"], memory["crop"] / 2**20)
    log.info("   whole: %8.3f s  peak %8.1f MiB", medians["whole"], memory["whole"] / 2**20)
    log.info("   crop / whole: time %.3f, peak memory %.3f", medians["crop"] / medians["whole"],
             memory["crop"] / max(1, memory["whole"]))


class FixedSegmenter:
    """Answers the same mask for every query (stands in for LISA / MLLM + SAM)."""

    def __init__(self, segmentation_cls, mask):
        self.make, self.mask = segmentation_cls, mask

    def segment(self, image, query, node_id=None):
        return self.make(self.mask[None].clone(), f"fixed mask for {query!r}")


def overhead(nodes, package, parts, size: int, plan_steps: int, sampler_steps: int, repeats: int) -> None:
    import torch

    model, clip, vae = parts
    plan_mod = importlib.import_module(f"{package}.editing.plan")
    segmentation = importlib.import_module(f"{package}.nodes._segmenters").Segmentation
    image = torch.rand(1, size, size, 3, generator=torch.Generator().manual_seed(1))
    mask = centred_mask(size, 0.2)
    plan = plan_mod.EditPlan(tuple(plan_mod.EditStep(f"edit {i}", "replace", f"region {i}", f"{PROMPT}, variant {i}")
                                   for i in range(plan_steps)))
    apply_node = node(nodes, "GenAssist_ApplyEditPlan")
    encode = node(nodes, "CLIPTextEncode")
    conditioning = node(nodes, "InpaintModelConditioning")
    sampler = nodes.NODE_CLASS_MAPPINGS["KSampler"]()
    decode = nodes.NODE_CLASS_MAPPINGS["VAEDecode"]()
    composite = nodes.NODE_CLASS_MAPPINGS["ImageCompositeMasked"]()

    segmenter = FixedSegmenter(segmentation, mask)

    def ours(harmonize):
        return lambda: apply_node(image, plan, segmenter, model, clip, vae, seed=1, steps=sampler_steps,
                                  cfg=5.0, sampler_name="euler", scheduler="normal", denoise=1.0,
                                  context_px=size, resolution=size, grow_px=0, feather_px=0,
                                  harmonize=harmonize, negative=NEGATIVE)

    def by_hand():
        out = image
        (negative,) = encode(clip=clip, text=NEGATIVE)
        for index, step in enumerate(plan.steps):
            (positive,) = encode(clip=clip, text=step.prompt)
            pos, neg, latent = conditioning(positive=positive, negative=negative, pixels=out, vae=vae, mask=mask[None],
                                           noise_mask=True)
            (latent,) = sampler.sample(model, 1 + index, sampler_steps, 5.0, "euler", "normal", pos, neg, latent)
            (decoded,) = decode.decode(vae, latent)
            (out,) = composite.composite(out, decoded, 0, 0, False, mask[None])
        return out

    contenders = {"by hand": by_hand, "ApplyEditPlan": ours(False), "ApplyEditPlan+harmonize": ours(True)}
    medians = interleaved_medians(contenders, repeats)
    base = medians["by hand"]
    log.info("2. %d-step plan on a %dx%d image, %d sampler steps per step", plan_steps, size, size, sampler_steps)
    for name, seconds in medians.items():
        log.info("   %-24s %8.3f s  ratio %.3f", name, seconds, seconds / base)
    # On a loaded machine the ratio above is noisy; the loop's own work is measured directly too: the node's
    # time minus what it spends in the shared inpaint routine and text encoding (the same work as by hand).
    node_module = sys.modules[type(apply_node).__module__]
    for harmonize in (False, True):
        own, total = own_work(node_module, ours(harmonize))
        log.info("   loop's own work%s: %.3f s of %.3f s (%.1f %%; by hand total %.3f s)",
                 " with harmonize" if harmonize else "", own, total, 100 * own / total, base)


def own_work(node_module, run) -> tuple[float, float]:
    """(seconds of `run` outside the shared inpaint routine and text encoding, total seconds)."""
    spent = {"inpaint_window": 0.0, "encode_text": 0.0}
    originals = {name: getattr(node_module, name) for name in spent}

    def timed(name):
        def call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return originals[name](*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start
        return call

    for name in spent:
        setattr(node_module, name, timed(name))
    try:
        start = time.perf_counter()
        run()
        total = time.perf_counter() - start
    finally:
        for name, original in originals.items():
            setattr(node_module, name, original)
    return total - sum(spent.values()), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="image side for crop vs whole (GPU: use 1024)")
    parser.add_argument("--resolution", type=int, default=256, help="crop working resolution (GPU: use 512)")
    parser.add_argument("--context", type=int, default=32, help="context px around the mask (GPU: use 64)")
    parser.add_argument("--plan-size", type=int, default=128, help="image side for the overhead comparison")
    parser.add_argument("--plan-steps", type=int, default=3)
    parser.add_argument("--sampler-steps", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--gpu", action="store_true", help="run on the GPU (default: CPU)")
    parser.add_argument("--skip-crop", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    opts = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)

    models = host.HOST_DIR / "test_models"
    nodes = start_comfy(models, Path(tempfile.mkdtemp(prefix="bench_edit_plan_")), cpu=not opts.gpu)
    import comfy.model_management as mm

    from tiny_models import TinyModels

    parts = nodes.NODE_CLASS_MAPPINGS["CheckpointLoaderSimple"]().load_checkpoint(TinyModels(models).sd15_inpaint())
    package = nodes.NODE_CLASS_MAPPINGS["GenAssist_ApplyEditPlan"].__module__.rsplit(".", 2)[0]
    glue = importlib.import_module(f"{package}.nodes._inpaint_region")
    device = mm.get_torch_device()
    log.info("device: %s · median of %d runs after a warm-up · tiny SD1.5-inpainting (full VAE + CLIP-L)",
             device, opts.repeats)
    import torch

    with torch.inference_mode():
        if not opts.skip_crop:
            crop_vs_whole(glue, parts, opts.size, opts.resolution, opts.context, opts.sampler_steps, opts.repeats,
                          device)
        if not opts.skip_overhead:
            overhead(nodes, package, parts, opts.plan_size, opts.plan_steps, opts.sampler_steps, opts.repeats)


if __name__ == "__main__":
    main()
