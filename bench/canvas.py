"""Infinite canvas: peak memory and time for a x2 and a x4 canvas area, as ratios from the same run.

The source is S x S; x2 adds S px on the right (2S x S), x4 also S px below (2S x 2S). Each area runs
in its own process so peak memory is not shared. Memory: on the CPU, the peak resident memory during
the expansion (VmHWM, reset just before it) above the resident memory at its start, minus the canvas
buffers themselves (image H*W*3 + mask H*W, float32); on CUDA,
torch's peak allocation (the canvas is in CPU memory there, so all of it is above the canvas). A flat
implementation gives a memory ratio near 1 and seconds per tile that do not depend on the area.

Backends:
- ``standin`` (default): the canvas package's whole tile loop (window fill, paste, seam harmonisation)
  with the diffusion step replaced by a window-sized stand-in (a blur plus seeded noise), at sizes
  where a canvas-sized copy would show (S = 1024: 2048 x 1024 vs 2048 x 2048, 512 px windows).
- ``comfy``: the Expand Canvas node in the real ComfyUI host with the tiny random-weight SD1.5
  inpainting checkpoint (sampling, VAE, long-prompt CLIP encoding per tile); small sizes on the CPU.

    python bench/canvas.py [--backend standin|comfy] [--source 1024] [--tile 512] [--overlap 256]
                           [--steps 2] [--device auto|cpu|cuda] [--repeats 2]
"""

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _pack  # noqa: F401  (the pack as genassist, the tests' harness)

PACK = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench.canvas")
AREAS = {"x2": (0, 0, 1, 0), "x4": (0, 0, 1, 1)}  # left, top, right, bottom in units of the source side


def _status_bytes(field: str) -> int:
    """VmRSS (resident now) or VmHWM (peak resident since the last reset) of this process, Linux."""
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) * 1024


def _reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _standin(index, image, mask, caption):
    import torch

    from genassist.restoration.masked_filters import gaussian_blur

    pixels = image.permute(0, 3, 1, 2)
    noise = torch.rand(pixels.shape, generator=torch.Generator().manual_seed(index))
    out = gaussian_blur(pixels, 3.0) * 0.8 + 0.2 * noise
    return out.permute(0, 2, 3, 1)


def _run_standin(plan, source, opts):
    from genassist.canvas.expand import ExpandSettings, expand_canvas

    settings = ExpandSettings(tile_size=plan.window_size, feather_px=16)
    canvas, generated, _ = expand_canvas(plan, source[0], settings, lambda i, c, g: plan.tiles[i].caption, _standin)
    return canvas, generated


def _comfy(opts):
    from harness import host
    from harness.inprocess import node as node_call
    from harness.inprocess import start_comfy
    from tiny_models import TinyModels

    models = host.HOST_DIR / "test_models"
    nodes = start_comfy(models, Path(tempfile.mkdtemp(prefix="bench_canvas_")), cpu=opts.device == "cpu")
    ckpt = node_call(nodes, "CheckpointLoaderSimple")(TinyModels(models).sd15_inpaint())
    node = node_call(nodes, "GenAssist_ExpandCanvas")

    def run(plan, source, opts):
        model, clip, vae = ckpt
        image, mask, _ = node(source, plan, model, clip, vae, 0, opts.steps, 4.0, "euler", "normal", 1.0, 16,
                                     True)
        return image, mask

    return run


def measure(area: str, opts) -> dict:
    """Expand in this process: a small warm-up canvas first (model loading and one-off buffers are not
    billed), then the measured one."""
    import torch

    from genassist.canvas.layout import layout_tiles

    run = _comfy(opts) if opts.backend == "comfy" else _run_standin
    side = opts.source

    def plan_for(margins, size):
        plan = layout_tiles(size, size, *(m * size for m in margins), opts.tile, opts.overlap, "a wide landscape")
        for index, tile in enumerate(plan.tiles):
            tile.caption = f"part {index} of the landscape"
        return plan

    warm = plan_for((0, 0, 0, 1), opts.tile)
    run(warm, torch.rand(1, opts.tile, opts.tile, 3), opts)
    plan, source = plan_for(AREAS[area], side), torch.rand(1, side, side, 3)
    cuda = opts.device == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        _reset_peak_rss()
        base = _status_bytes("VmRSS")
    start = time.perf_counter()
    image, mask = run(plan, source, opts)
    seconds = time.perf_counter() - start
    canvas_bytes = plan.width * plan.height * 4 * 4  # IMAGE (3 channels) + MASK, float32
    if cuda:
        above = torch.cuda.max_memory_allocated() - base
    else:
        above = _status_bytes("VmHWM") - base - canvas_bytes
    assert image.shape[-3:-1] == (plan.height, plan.width)
    return {"area": area, "width": plan.width, "height": plan.height, "tiles": len(plan.tiles),
            "seconds": seconds, "above_bytes": above, "canvas_bytes": canvas_bytes}


def _child(area: str, opts) -> dict:
    command = [sys.executable, __file__, "--child", area, "--backend", opts.backend, "--source", str(opts.source),
               "--tile", str(opts.tile), "--overlap", str(opts.overlap), "--steps", str(opts.steps),
               "--device", opts.device]
    # a fixed mmap threshold returns every freed window buffer to the OS: the peak then shows the working
    # set, not where glibc's heap happened to keep earlier windows' memory (which varies run to run)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{area} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["standin", "comfy"], default="standin")
    parser.add_argument("--source", type=int, default=0, help="source side; default 1024 (standin), 64 (comfy)")
    parser.add_argument("--tile", type=int, default=0, help="window side; default 512 (standin), 64 (comfy)")
    parser.add_argument("--overlap", type=int, default=-1, help="default: half the window")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=2, help="runs per area, alternating (best time, "
                        "largest memory)")
    parser.add_argument("--child", choices=list(AREAS), help=argparse.SUPPRESS)
    opts = parser.parse_args()
    small = opts.backend == "comfy"
    opts.source = opts.source or (64 if small else 1024)
    opts.tile = opts.tile or (64 if small else 512)
    opts.overlap = opts.tile // 2 if opts.overlap < 0 else opts.overlap
    if opts.device == "auto":
        import torch

        opts.device = "cuda" if torch.cuda.is_available() and opts.backend == "comfy" else "cpu"
    if opts.child:
        sys.stdout.write(json.dumps(measure(opts.child, opts)) + "\n")  # the parent reads this line
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    memory = "peak CUDA allocation" if opts.device == "cuda" else "peak RSS above the canvas buffers"
    log.info("canvas, backend %s, device %s, source %d px, window %d px, overlap %d, %s", opts.backend,
             opts.device, opts.source, opts.tile, opts.overlap, memory)
    runs = [_child(area, opts) for _ in range(opts.repeats) for area in AREAS]  # x2, x4, x2, x4, ...
    rows = {}
    for area in AREAS:
        mine = [r for r in runs if r["area"] == area]
        rows[area] = {**mine[0], "seconds": min(r["seconds"] for r in mine),
                      "above_bytes": max(r["above_bytes"] for r in mine)}
    log.info("%5s %11s %6s %9s %9s %11s %11s", "area", "canvas", "tiles", "seconds", "s/tile", "canvas MiB",
             "above MiB")
    for row in rows.values():
        log.info("%5s %11s %6d %9.2f %9.3f %11.1f %11.1f", row["area"], f"{row['width']}x{row['height']}",
                 row["tiles"], row["seconds"], row["seconds"] / row["tiles"], row["canvas_bytes"] / 2**20,
                 row["above_bytes"] / 2**20)
    x2, x4 = rows["x2"], rows["x4"]
    memory_ratio = x4["above_bytes"] / max(x2["above_bytes"], 1)
    per_tile = (x4["seconds"] / x4["tiles"]) / (x2["seconds"] / x2["tiles"])
    log.info("x4/x2: memory ratio %.3f (flat: <= 1.1), tile ratio %.2f, time ratio %.2f, time per tile ratio "
             "%.2f (time proportional to tiles: ~1)", memory_ratio, x4["tiles"] / x2["tiles"],
             x4["seconds"] / x2["seconds"], per_tile)


if __name__ == "__main__":
    main()
