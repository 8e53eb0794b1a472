"""GenAssist pipelines on simulated smaller cards: does each run, and with what peak memory, or does it stop
with an error that names what to change (never a raw CUDA out-of-memory trace)?

A card of S GB is simulated on a bigger GPU two ways at once: torch's per-process memory fraction (S GB is
a hard limit: more raises torch.OutOfMemoryError, as a real card would) and ComfyUI's reserved VRAM (the
equivalent of --reserve-vram total-S, so ComfyUI's memory manager plans for S GB and offloads as it would
there). Models have real shapes and random weights, built on the machine: a LISA-7B (LLaMA-7B, CLIP-L/14-224,
SAM ViT-H), a LLaVA-1.5-7B-shaped MLLM (LLaMA-7B, CLIP-L/14-336, MLP projector) and full-size SD1.5 and
SD1.5-inpainting checkpoints (UNet, VAE, CLIP-L) written in the real layout and loaded by CheckpointLoaderSimple.

Pipelines (each through the pack's node code, in ComfyUI in-process):
  refine_sample  the MLLM writes a prompt for an image (Refine Prompt), then txt2img at 512 px (KSampler)
  lisa_inpaint   LISA segments a 512 px image (its answer is made to end in [SEG], so SAM runs), then the
                 region is inpainted at 512 px (the edit steps' inpaint routine)
  canvas         Plan Canvas (the MLLM captions the tiles), then Expand Canvas (one 512 px tile)

Sizes run smallest first, so a failed size is followed by the next: every row after an error shows that
the next prompt still runs. Random weights answer gibberish: this measures memory and time, not quality.

    python bench/memory_pressure.py --out OUT [--sizes 8,12,16,24] [--pipelines refine_sample,lisa_inpaint]
                                    [--tokens 8] [--steps 4]               # on a CUDA machine
    python bench/memory_pressure.py --tiny --out /tmp/mp                   # CPU dry run, small shapes
    (bench/memory_pressure.sh runs the GPU case with the defaults and writes OUT/memory_pressure.{json,md})
"""

import argparse
import importlib
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import _pack  # noqa: F401  (the pack as genassist, the tests' harness)
import torch
from _memory_models import build_models  # noqa: E402  (bench/ is the script's own folder)

from harness.inprocess import node as node_call  # noqa: E402
from harness.inprocess import start_comfy

log = logging.getLogger("bench.memory_pressure")
PIPELINES = ("refine_sample", "lisa_inpaint", "canvas")
STAGE = {"now": ""}  # the step a pipeline is in, named in a failed case's row
class MoveLog(logging.Handler):
    """Collects the pack's 'moved to' / 'offloaded to' / retry lines of one case."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        text = record.getMessage()
        if any(k in text for k in ("moved to", "offloaded to", "out of GPU memory", "after the out-of-memory")):
            self.lines.append(text)


class Card:
    """Simulates an S GB card: the per-process fraction caps torch, ComfyUI's reserve makes it plan for S."""

    def __init__(self, mm, device):
        self.mm, self.device = mm, device
        self.default_reserve = mm.EXTRA_RESERVED_VRAM
        self.total = torch.cuda.get_device_properties(device).total_memory if device.type == "cuda" else 0

    def set(self, gigabytes: float) -> None:
        if self.device.type != "cuda":
            return
        size = min(gigabytes * 2**30, self.total)
        torch.cuda.set_per_process_memory_fraction(size / self.total, self.device)
        self.mm.EXTRA_RESERVED_VRAM = self.default_reserve + int(self.total - size)  # = --reserve-vram total-S

    def clean(self) -> None:
        self.mm.unload_all_models()
        self.mm.soft_empty_cache()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(self.device)


def pipelines(nodes, package: str, models: dict, args) -> dict:
    """name -> callable running it once through the pack's node code."""
    from PIL import Image

    from genassist.mllm.backend import GenerationSettings, Message

    memory = importlib.import_module(f"{package}.nodes._memory")
    handle_mod = importlib.import_module(f"{package}.nodes._mllm_handle")
    segmenters = importlib.import_module(f"{package}.nodes._segmenters")
    region = importlib.import_module(f"{package}.nodes._inpaint_region")
    node = {name: node_call(nodes, name) for name in nodes.NODE_CLASS_MAPPINGS}
    size = 64 if args.tiny else 512
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, size, size, 3, generator=gen)
    pil = Image.fromarray((image[0].numpy() * 255).astype("uint8"))
    mllm = lisa = None
    if "mllm_backend" in models:
        backend = models["mllm_backend"]
        patcher = memory.wrap_model(handle_mod.ModelContainer(backend.model), "text_encoder", backend.name)
        mllm = handle_mod.MLLMHandle(backend, patcher, activation_bytes=0 if args.tiny else 2**30)
    if "lisa" in models:
        patcher = memory.wrap_model(handle_mod.ModelContainer(models["lisa"]), "text_encoder", "LISA-7B-shaped")
        lisa = segmenters.LisaSegmenter(models["lisa"], patcher, args.tokens, 0 if args.tiny else 2 * 2**30)
    loaded = {}

    def checkpoint(name):  # loaded once, as ComfyUI's cache keeps a loader's output between prompts
        if name not in loaded:
            loaded[name] = node["CheckpointLoaderSimple"](name)[:3]
        return loaded[name]

    sampling = region.SamplingSettings(1, args.steps, 5.0, "euler", "normal", 1.0)

    def refine_sample():
        STAGE["now"] = "MLLM (Refine Prompt's generate)"
        settings = GenerationSettings(max_new_tokens=args.tokens, temperature=0.0)
        text = mllm.generate([Message("user", "Write an image prompt for this picture.", [pil])], settings)
        STAGE["now"] = "core CheckpointLoader/KSampler/VAEDecode"
        model, clip, _vae = checkpoint("sd15.safetensors")
        (latent,) = node["EmptyLatentImage"](size, size, 1)
        positive = region.encode_text(clip, text)
        negative = region.encode_text(clip, "")
        (samples,) = node["KSampler"](model, 1, args.steps, 5.0, "euler", "normal", positive, negative,
                                             latent)
        node["VAEDecode"](_vae, samples)

    def lisa_inpaint():
        STAGE["now"] = "LISA"
        segmentation = lisa.segment(pil, "What in this picture would people sit on?")
        mask = segmentation.masks.amax(0) if segmentation.masks.shape[0] else torch.zeros(size, size)
        mask[size // 4: size // 2, size // 4: size // 2] = 1  # random weights: make sure there is a region
        STAGE["now"] = "the pack's inpaint routine (edit steps)"
        model, clip, vae = checkpoint("sd15_inpaint.safetensors")
        region.inpaint_region(model, clip, vae, image, mask, "a wooden chair", "", sampling, resolution=size)

    def canvas():
        STAGE["now"] = "Plan Canvas"
        plan, _ = node["GenAssist_PlanCanvas"](mllm, image, "a harbour at dusk", size // 2, 0, 0, 0, size,
                                                    size // 8, 0, max_new_tokens=args.tokens)
        STAGE["now"] = "Expand Canvas"
        model, clip, vae = checkpoint("sd15_inpaint.safetensors")
        node["GenAssist_ExpandCanvas"](image, plan, model, clip, vae, 0, args.steps, 5.0, "euler",
                                              "normal", 1.0, 16, False)

    return {"refine_sample": refine_sample, "lisa_inpaint": lisa_inpaint, "canvas": canvas}


class StandInCard:
    """--tiny only (nothing can be simulated on the CPU): below ``limit`` GB the sampler raises torch's real
    OOM exception, so the dry run also goes through the pack's retry and its actionable error."""

    def __init__(self, limit: float):
        import comfy.sample

        self.limit, self.size, self.real = limit, float("inf"), comfy.sample.sample
        comfy.sample.sample = self.sample

    def sample(self, *args, **kwargs):
        import comfy.model_management as mm

        if self.size < self.limit:
            raise mm.OOM_EXCEPTION(f"CUDA out of memory (stand-in for a {self.size:g} GB card in the dry run)")
        return self.real(*args, **kwargs)


def run_case(run, card: Card, gigabytes: float, mm, errors, stand_in=None) -> dict:
    card.clean()
    card.set(gigabytes)
    if stand_in is not None:
        stand_in.size = gigabytes
    moves = MoveLog()
    logging.getLogger("GenAssist").addHandler(moves)
    start = time.perf_counter()
    result = {}
    STAGE["now"] = ""
    try:
        run()
        result["outcome"] = "runs"
    except errors.GenAssistOutOfMemory as error:
        result.update(outcome="actionable error", message=str(error))
    except mm.OOM_EXCEPTION as error:  # a bug to report: an OOM that escaped the pack's handling
        result.update(outcome="raw OOM", message=str(error).splitlines()[0])
    except Exception as error:  # noqa: BLE001  (any other failure is a result of this bench too)
        result.update(outcome=f"failed: {type(error).__name__}", message=str(error)[:300])
    finally:
        logging.getLogger("GenAssist").removeHandler(moves)
    if result["outcome"] != "runs":
        result["stage"] = STAGE["now"]
    result["seconds"] = round(time.perf_counter() - start, 2)
    if card.device.type == "cuda":
        result["peak_gib"] = round(torch.cuda.max_memory_allocated(card.device) / 2**30, 2)
    result["log"] = moves.lines
    return result


def markdown(report: dict) -> str:
    sizes = report["sizes_gb"]
    lines = [f"Card: {report['device']}; simulated sizes {', '.join(f'{s:g} GB' for s in sizes)}; "
             f"{report['dtype']}; {report['tokens']} MLLM tokens, {report['steps']} sampler steps, "
             f"{report['image_px']} px.", "",
             "| pipeline | " + " | ".join(f"{s:g} GB" for s in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for name, by_size in report["results"].items():
        cells = []
        for size in sizes:
            r = by_size[str(size)]
            peak = f", peak {r['peak_gib']} GiB" if "peak_gib" in r else ""
            cells.append(f"runs ({r['seconds']} s{peak})" if r["outcome"] == "runs"
                         else f"{r['outcome']} in {r['stage']}{peak}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "actionable error: the pack's GenAssistOutOfMemory (message in the JSON); raw OOM: torch's "
              "error reached the caller (from a core node, ComfyUI reports it itself; from a pack step, a bug)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for memory_pressure.json and .md")
    parser.add_argument("--sizes", default="8,12,16,24", help="simulated card sizes in GB, comma-separated")
    parser.add_argument("--pipelines", default="refine_sample,lisa_inpaint")
    parser.add_argument("--tokens", type=int, default=8, help="MLLM answer tokens (exactly this many)")
    parser.add_argument("--steps", type=int, default=4, help="sampler steps")
    parser.add_argument("--tiny", action="store_true", help="CPU dry run with small shapes (no simulation)")
    parser.add_argument("--dry-run-oom-below", type=float, default=10.0, help="--tiny: sizes below this many GB "
                        "get a sampler that raises torch's OOM exception (0: never)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    chosen = [p for p in args.pipelines.split(",") if p]
    unknown = set(chosen) - set(PIPELINES)
    if unknown:
        parser.error(f"unknown pipelines {sorted(unknown)}; choose from {PIPELINES}")
    sizes = [float(s) for s in args.sizes.split(",")]
    gpu = not args.tiny
    if gpu and not torch.cuda.is_available():
        parser.error("no CUDA device: use --tiny for a CPU dry run")
    device = torch.device("cuda", torch.cuda.current_device()) if gpu else torch.device("cpu")
    dtype = torch.bfloat16 if gpu else torch.float32
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        # ComfyUI first: it picks its device when first imported, and the model builders import it too
        (work / "host").mkdir()
        nodes = start_comfy(work, work / "host", cpu=not gpu)
        import comfy.model_management as mm

        models = build_models(work, device, dtype, args.tiny, chosen)
        package = nodes.NODE_CLASS_MAPPINGS["GenAssist_Restore"].__module__.rsplit(".", 2)[0]
        errors = importlib.import_module(f"{package}.nodes._oom")
        runs = pipelines(nodes, package, models, args)
        card = Card(mm, device)
        stand_in = StandInCard(args.dry_run_oom_below) if args.tiny and args.dry_run_oom_below else None
        log.info("models built and ComfyUI started in %.1f s", time.perf_counter() - started)
        results = {name: {} for name in chosen}
        for size in sizes:
            for name in chosen:
                result = run_case(runs[name], card, size, mm, errors, stand_in)
                results[name][str(size)] = result
                log.info("%s at %g GB: %s", name, size, json.dumps({k: v for k, v in result.items() if k != "log"}))
        card.set(1e9)
        card.clean()
    report = {"device": torch.cuda.get_device_name(device) if gpu else "cpu (dry run, nothing simulated)",
              "dtype": str(dtype).replace("torch.", ""), "sizes_gb": sizes, "tokens": args.tokens,
              "steps": args.steps, "image_px": 64 if args.tiny else 512, "tiny": args.tiny,
              "total_seconds": round(time.perf_counter() - started, 1), "results": results}
    (out / "memory_pressure.json").write_text(json.dumps(report, indent=1))
    (out / "memory_pressure.md").write_text(markdown(report))
    log.info("%s\nwritten to %s", markdown(report), out)


if __name__ == "__main__":
    sys.exit(main())
