"""Wall-clock timing of device work for the benches: CUDA is synchronised around what is timed, so the time
is the work's and not only its launch."""

import time

import torch


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, *args):
    """(fn(*args), seconds it took, the device included)."""
    sync(device)
    start = time.perf_counter()
    out = fn(*args)
    sync(device)
    return out, time.perf_counter() - start
