"""What finding an image's cached vision features costs: the FeatureCache lookup (tensors compared where they
live) against hashing a host copy of the encoder input (sha1 of its bytes, the usual content key).

    python bench/vision_cache_key.py [--device cuda] [--dtype bfloat16] [--side 448]

Prints one JSON line per case: milliseconds, best of --repeat calls (each miss with new pixels).
"""

import argparse
import hashlib
import json

import _pack  # noqa: F401  (registers the pack as ``genassist``)
import torch
from _timing import timed

from genassist.mllm.vision_cache import DEFAULT_IMAGES, FeatureCache


def best_ms(calls, device: torch.device) -> float:
    return min(timed(call, device)[1] for call in calls) * 1e3


def host_hash(tensor: torch.Tensor) -> str:
    data = tensor.detach().contiguous().cpu()
    return hashlib.sha1(data.reshape(-1).view(torch.uint8).numpy()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--side", type=int, default=448)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    generator = torch.Generator(device).manual_seed(0)
    images = [torch.rand(1, 3, args.side, args.side, generator=generator, device=device).to(dtype)
              for _ in range(DEFAULT_IMAGES)]
    query = images[0].clone()  # the oldest entry's pixels in another tensor (a new preprocess of the image)
    cache = FeatureCache()
    for image in images:
        cache.get_or_compute_inputs((image,), {}, lambda: None)
    # a hit moves its entry last and entries are compared oldest first: after this one, every hit is
    # compared with the 3 other images first
    cache.get_or_compute_inputs((query,), {}, lambda: None)
    others = [torch.full_like(query, index / args.repeat) for index in range(args.repeat)]  # all new pixels
    passes = cache.encoder_passes
    cases = {"sha1 of a host copy (one tensor)": [lambda: host_hash(query)] * args.repeat,
             f"lookup, hit after {DEFAULT_IMAGES - 1} same-shape entries":
                 [lambda: cache.get_or_compute_inputs((query,), {}, lambda: None)] * args.repeat,
             f"lookup, miss against {DEFAULT_IMAGES} entries + storing a copy":
                 [lambda other=other: cache.get_or_compute_inputs((other,), {}, lambda: None) for other in others]}
    for name, calls in cases.items():
        row = {"case": name, "device": str(device), "dtype": args.dtype, "shape": list(query.shape),
               "ms": round(best_ms(calls, device), 3)}
        print(json.dumps(row))  # noqa: T201 - the rows are the script's output
    assert cache.encoder_passes == passes + args.repeat, "a hit missed or a miss hit"


if __name__ == "__main__":
    with torch.inference_mode():  # as the encoders ask (with gradients on, the cache shares nothing)
        main()
