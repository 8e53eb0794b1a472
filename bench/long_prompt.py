"""Encode time of GenAssist_LongPromptEncode vs core CLIPTextEncode at 75/150/300 tokens (same run).

Uses the real ComfyUI host and the full-size CLIP-L of the tiny SD1.5 test checkpoint (random weights:
the timing is that of a real CLIP-L).

    .host/venv/bin/python bench/long_prompt.py [--repeats 7] [--gpu]
"""

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _pack  # noqa: F401  (the pack as genassist, the tests' harness)

PACK = Path(__file__).resolve().parents[1]

from harness import host  # noqa: E402
from harness.inprocess import node, start_comfy  # noqa: E402
from harness.sample_text import SENTENCES  # noqa: E402

log = logging.getLogger("bench.long_prompt")


def start_host(gpu: bool):
    models = host.HOST_DIR / "test_models"
    nodes = start_comfy(models, Path(tempfile.mkdtemp(prefix="bench_long_prompt_")), cpu=not gpu)
    from tiny_models import TinyModels

    return nodes, TinyModels(models)


def prompt_of(clip, tokens: int) -> str:
    """Whole sentences (cycled) until the prompt has at least ``tokens`` content tokens, then cut to it."""
    words, text = [], ""
    for i in range(1000):
        words.extend(SENTENCES[i % len(SENTENCES)].split())
        text = " ".join(words)
        if count(clip, text) >= tokens:
            break
    while count(clip, text) > tokens:
        words.pop()
        text = " ".join(words)
    return text


def count(clip, text: str) -> int:
    return sum(1 for row in clip.tokenize(text, return_word_ids=True)["l"] for *_, word in row if word != 0)


def interleaved_medians(fns: dict, repeats: int) -> dict:
    """Median seconds of each callable, timed round-robin so that load from other processes on a shared
    machine hits every contender alike."""
    for fn in fns.values():
        fn()  # warm-up
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--gpu", action="store_true", help="run the encoder on the GPU (default: CPU)")
    opts = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)

    nodes, tiny = start_host(opts.gpu)
    _, clip, _ = node(nodes, "CheckpointLoaderSimple")(tiny.sd15())
    core = node(nodes, "CLIPTextEncode")
    ours = node(nodes, "GenAssist_LongPromptEncode")
    device = clip.patcher.load_device

    log.info("device: %s · repeats: %d · median seconds per encode · ratio = ours / core CLIPTextEncode",
             device, opts.repeats)
    log.info("%-7s %-9s %9s %9s %6s %-7s %s", "tokens", "strategy", "core s", "ours s", "ratio", "seq len",
             "max_chunks=4")
    strategies = ("sentence", "llmga", "native")
    for tokens in (75, 150, 300):
        text = prompt_of(clip, tokens)
        results = {}

        def ours_fn(s, t=text, out=results):
            return lambda: out.__setitem__(s, ours(clip, t, s, 4, "auto"))

        fns = {"core": lambda t=text: core(clip=clip, text=t), **{s: ours_fn(s) for s in strategies}}
        medians = interleaved_medians(fns, opts.repeats)
        for strategy in strategies:
            (cond, _), = results[strategy][0]
            dropped = next(line for line in results[strategy][1].splitlines() if line.startswith("dropped"))
            log.info("%-7d %-9s %9.4f %9.4f %6.2f %-7s %s", count(clip, text), strategy, medians["core"],
                     medians[strategy], medians[strategy] / medians["core"], cond.shape[1], dropped)

    # tokenization and window planning alone, without the encoder forward
    module = sys.modules[type(ours).__module__]
    text = prompt_of(clip, 300)

    def plan_sentences():
        counter = module.TokenCounter(clip, "l", False)
        plan = module.pw.pack_sentences(text, counter, 75, 10**6)
        for window in plan.windows:
            module.content_tokens(clip, window.text(text), False)

    plan = interleaved_medians({"core": lambda: clip.tokenize(text),
                                "llmga": lambda: module.content_tokens(clip, text, False),
                                "sentence": plan_sentences}, opts.repeats * 4)
    log.info("tokenize/plan only, 300 tokens: core %.2f ms · llmga %.2f ms · sentence %.2f ms",
             *(plan[k] * 1e3 for k in ("core", "llmga", "sentence")))


if __name__ == "__main__":
    main()
