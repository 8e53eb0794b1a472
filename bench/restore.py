"""Tiled vs whole-image DiffRIR restoration: peak memory and time, as ratios measured in the same run.

Each (size, mode) runs in its own process so peak memory is not shared between measurements: on the
CPU the peak is the rise of the process's max RSS during the restore, on CUDA torch's peak allocation.
The network is DiffRIR's layout at a small width with random weights (memory and time scale with the
same tiling either way); pass --dim 64 --blocks 13 --refinement 13 for the released size.

    python bench/restore.py [--sizes 1024 2048] [--tile 512] [--overlap 64] [--device auto|cpu|cuda]
"""

import argparse
import json
import logging
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench.restore")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def measure(size: int, tile: int, overlap: int, device: str, dim: int, blocks: int, refinement: int,
            repeats: int = 2) -> dict:
    """Restore a size x size image (mask: all but a 32 px frame) in this process; best time of
    ``repeats`` passes (CPU timings on a shared machine are noisy), peak memory over all of them."""
    sys.path.insert(0, str(ROOT))
    import torch

    from restoration.diffrir import DiffRIRS2
    from restoration.diffrir_config import DiffRIRConfig
    from restoration.restore import restore_image

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
    seconds = []
    for _ in range(repeats):  # the first pass also pays one-off kernel set-up for the new shapes
        start = time.perf_counter()
        restore_image(model, image, reference, mask, seed=0, tile=tile, overlap=overlap)
        if device == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = _peak_rss_bytes() - base
    return {"size": size, "tile": tile, "seconds": min(seconds), "peak_bytes": peak,
            "device": device, "params_m": sum(p.numel() for p in model.parameters()) / 1e6}


def _child(args, size: int, tile: int) -> dict:
    command = [sys.executable, __file__, "--child", str(size), str(tile), "--overlap", str(args.overlap),
               "--device", args.device, "--dim", str(args.dim), "--blocks", str(args.blocks),
               "--refinement", str(args.refinement)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    args = parser.parse_args()
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.child:
        result = measure(args.child[0], args.child[1], args.overlap, args.device, args.dim, args.blocks,
                         args.refinement)
        sys.stdout.write(json.dumps(result) + "\n")  # the parent reads this line
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("DiffRIR x1, dim %d, blocks [%d,1,1,1], refinement %d, random weights, device %s, "
             "tile %d overlap %d", args.dim, args.blocks, args.refinement, args.device, args.tile, args.overlap)
    log.info("%6s %10s %10s %12s %12s %12s %10s", "size", "whole s", "tiled s", "whole MiB", "tiled MiB",
             "mem ratio", "time ratio")
    for size in args.sizes:
        whole, tiled = _child(args, size, 0), _child(args, size, args.tile)
        log.info("%6d %10.2f %10.2f %12.1f %12.1f %12.3f %10.3f", size, whole["seconds"], tiled["seconds"],
                 whole["peak_bytes"] / 2**20, tiled["peak_bytes"] / 2**20,
                 tiled["peak_bytes"] / max(whole["peak_bytes"], 1), tiled["seconds"] / whole["seconds"])


if __name__ == "__main__":
    main()
