"""Tiled vs whole-image DiffRIR restoration: peak memory and time as ratios measured in the same run, and
how far the tiled result is from the whole-image one.

Each (size, mode) runs in its own process so peak memory is not shared between measurements: on the
CPU the peak is the rise of the process's max RSS during the restore, on CUDA torch's peak allocation.
The network is DiffRIR's layout at a small width with random weights (memory and time scale with the
same tiling either way); pass --dim 64 --blocks 13 --refinement 13 for the released size. The difference
columns compare the two outputs inside the mask (max and mean absolute, in [0, 1] units) and the prior
vectors the transformer was modulated with (tiles share the whole image's prior, so that one is ~0).

    python bench/restore.py [--sizes 1024 2048] [--tile 512] [--overlap 64] [--device auto|cpu|cuda]
"""

import argparse
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _pack  # noqa: F401  (the pack as genassist, the tests' harness)

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench.restore")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def measure(size: int, tile: int, overlap: int, device: str, dim: int, blocks: int, refinement: int,
            save_to: str, repeats: int = 2) -> dict:
    """Restore a size x size image (mask: all but a 32 px frame) in this process; best time of
    ``repeats`` passes (CPU timings on a shared machine are noisy), peak memory over all of them.
    The output and the first prior the transformer received are saved to ``save_to``."""
    import torch

    from genassist.restoration.diffrir import DiffRIRS2
    from genassist.restoration.diffrir_config import DiffRIRConfig
    from genassist.restoration.restore import restore_image

    torch.manual_seed(0)
    config = DiffRIRConfig(scale=1, dim=dim, num_blocks=(blocks, 1, 1, 1), num_refinement_blocks=refinement,
                           prior_feats=max(16, dim), n_encoder_res=2)
    model = DiffRIRS2(config).eval().to(device)
    image = torch.rand(1, 3, size, size)
    reference = torch.rand(1, 3, size, size)
    mask = torch.zeros(1, 1, size, size)
    mask[..., 32:-32, 32:-32] = 1
    # warm-up on a small input so one-off allocations are not billed to either mode
    restore_image(model, image[..., :128, :128], reference[..., :128, :128], mask[..., :128, :128], 0, 0)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _peak_rss_bytes()
    seconds, priors = [], []
    model.G.register_forward_pre_hook(lambda module, args: priors.append(args[1].float().cpu()))
    for _ in range(repeats):  # the first pass also pays one-off kernel set-up for the new shapes
        start = time.perf_counter()
        output = restore_image(model, image, reference, mask, seed=0, tile=tile, overlap=overlap)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = _peak_rss_bytes() - base
    torch.save({"output": output, "prior": priors[0], "mask": mask}, save_to)
    return {"size": size, "tile": tile, "seconds": min(seconds), "peak_bytes": peak,
            "device": device, "params_m": sum(p.numel() for p in model.parameters()) / 1e6}


def _child(args, size: int, tile: int, save_to: Path) -> dict:
    command = [sys.executable, __file__, "--child", str(size), str(tile), "--overlap", str(args.overlap),
               "--device", args.device, "--dim", str(args.dim), "--blocks", str(args.blocks),
               "--refinement", str(args.refinement), "--save-to", str(save_to)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def difference(whole_file: Path, tiled_file: Path) -> dict:
    """Tiled minus whole inside the mask (max, mean absolute) and between the priors (max absolute)."""
    import torch

    whole, tiled = torch.load(whole_file), torch.load(tiled_file)
    inside = (whole["mask"] > 0).expand_as(whole["output"])
    gap = (tiled["output"] - whole["output"])[inside].abs()
    return {"max": float(gap.max()), "mean": float(gap.mean()),
            "prior": float((tiled["prior"] - whole["prior"]).abs().max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--refinement", type=int, default=2)
    parser.add_argument("--child", type=int, nargs=2, metavar=("SIZE", "TILE"), help=argparse.SUPPRESS)
    parser.add_argument("--save-to", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.child:
        result = measure(args.child[0], args.child[1], args.overlap, args.device, args.dim, args.blocks,
                         args.refinement, args.save_to)
        sys.stdout.write(json.dumps(result) + "\n")  # the parent reads this line
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("DiffRIR x1, dim %d, blocks [%d,1,1,1], refinement %d, random weights, device %s, "
             "tile %d overlap %d", args.dim, args.blocks, args.refinement, args.device, args.tile, args.overlap)
    log.info("%6s %9s %9s %10s %10s %9s %10s %10s %10s %10s", "size", "whole s", "tiled s", "whole MiB",
             "tiled MiB", "mem ratio", "time ratio", "diff max", "diff mean", "prior diff")
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            whole_file, tiled_file = Path(scratch, f"whole{size}.pt"), Path(scratch, f"tiled{size}.pt")
            whole, tiled = _child(args, size, 0, whole_file), _child(args, size, args.tile, tiled_file)
            gap = difference(whole_file, tiled_file)
            log.info("%6d %9.2f %9.2f %10.1f %10.1f %9.3f %10.3f %10.2e %10.2e %10.2e", size, whole["seconds"],
                     tiled["seconds"], whole["peak_bytes"] / 2**20, tiled["peak_bytes"] / 2**20,
                     tiled["peak_bytes"] / max(whole["peak_bytes"], 1), tiled["seconds"] / whole["seconds"],
                     gap["max"], gap["mean"], gap["prior"])


if __name__ == "__main__":
    main()
