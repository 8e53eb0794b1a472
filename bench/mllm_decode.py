"""Decode benchmark, side by side in one run (batch 1, greedy): plain eager ``model.generate``, GenAssist's
default path, the static-cache path, recorded CUDA graphs, and (--compile) torch.compile; decode tokens/s,
the fraction of the memory-bandwidth roofline (weight bytes read per token / peak bandwidth: a table by GPU
name, or --bandwidth; measured copy bandwidth on the CPU), whether each path produced exactly the tokens of
plain greedy generate, the path that really ran (a failing one falls back), and for graphs the time of one
bare replayed step (what the loop around it costs is the difference).

    python bench/mllm_decode.py --arch small                              # random weights, CPU-friendly
    python bench/mllm_decode.py --arch qwen2-1.5b --device cuda --compile --json out.json
    python bench/mllm_decode.py --model-dir models/LLM/Qwen2.5-VL-3B-Instruct --device cuda

Every path decodes exactly --new-tokens tokens (EOS disabled).
"""

import argparse
import functools
import json
import logging
import statistics
import time
from pathlib import Path

import _pack  # noqa: F401  (the pack as genassist, the tests' harness)
import torch
from _roofline import device_name, peak_bandwidth, weight_bytes_per_token
from _timing import sync, timed

from genassist.mllm import decode_plan, static_decode  # noqa: E402
from genassist.mllm.backend import GenerationSettings  # noqa: E402
from genassist.mllm.decoding import DecodeHooks, run_generate  # noqa: E402

log = logging.getLogger("bench.mllm_decode")

# text backbones of the sizes GenAssist runs (random weights; shapes of the published configs)
ARCHS = {
    "small": dict(model_type="llama", hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
                  num_attention_heads=8, num_key_value_heads=4, vocab_size=32000),
    "qwen2-0.5b": dict(model_type="qwen2", hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                       num_attention_heads=14, num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "qwen2-1.5b": dict(model_type="qwen2", hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                       num_attention_heads=12, num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "vicuna-7b": dict(model_type="llama", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=32, vocab_size=32000),
}


class IdTokenizer:
    """Enough of a tokenizer for the decoding loop: ids in, ids out, no EOS."""

    eos_token_id = None
    pad_token_id = 0

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(str(int(i)) for i in ids)

    def get_vocab(self):
        return {}


def build_model(args, device, dtype):
    from transformers import AutoConfig, AutoModelForCausalLM

    if args.model_dir:
        from genassist.mllm.loader import load_backend

        backend = load_backend(args.model_dir, dtype=dtype)
        model = getattr(backend.model, "language_model", None) or backend.model
        return model.to(device).eval(), Path(args.model_dir).name
    spec = dict(ARCHS[args.arch])
    config = AutoConfig.for_model(spec.pop("model_type"), max_position_embeddings=4096, **spec)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config).to(dtype)
    return model.eval(), args.arch


def copy_bandwidth(device, megabytes=512, repeats=10) -> float:
    """Bytes/s of a device-local copy (read + write counted): the CPU's stand-in for a peak figure."""
    n = megabytes * 2**20 // 4
    src = torch.empty(n, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    dst.copy_(src)
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        dst.copy_(src)
        sync(device)
        times.append(time.perf_counter() - start)
    return 2 * src.numel() * 4 / min(times)


def time_call(fn, device, repeats):
    return statistics.median(timed(fn, device)[1] for _ in range(repeats))


def bare_step_ms(model, device, repeats=20):
    """Median time of one decode step replayed alone (its graph on CUDA): the floor of the graphs path."""
    held = static_decode._HELD.get(model)
    if held is None or held.step is None or not held.step.recordings:
        return None
    recording = next(iter(held.step.recordings.values()))
    with torch.inference_mode():  # on a CPU the replay is the eager call itself
        seconds = time_call(functools.partial(held.step._replay, recording), device, repeats)
    return round(seconds * 1e3, 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=sorted(ARCHS), default="small")
    parser.add_argument("--model-dir", help="a model folder instead of a random-weight architecture")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default=None)
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also time the compiled path (warm-up reported)")
    parser.add_argument("--paths", default="plain,auto,static,graphs", help="comma list of plain "
                        "(model.generate), auto (the pack's default), static, graphs, compiled, compile (what "
                        "Load MLLM's compile picks); plain is always timed")
    parser.add_argument("--bandwidth", type=float, help="peak memory bandwidth in GB/s (default: by GPU name)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    device = torch.device(args.device)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}.get(
        args.dtype, torch.float32 if device.type == "cpu" else torch.bfloat16)
    model, label = build_model(args, device, dtype)
    model.generation_config.eos_token_id = None
    tokenizer = IdTokenizer()
    vocab = model.get_input_embeddings().weight.shape[0]
    prompt = torch.randint(100, vocab - 1, (1, args.prompt_tokens), generator=torch.Generator().manual_seed(1))
    prompt = prompt.to(device)
    mask = torch.ones_like(prompt)
    new = args.new_tokens
    produced: dict[str, list[int]] = {}
    ran: dict[str, str] = {"plain_generate": "model.generate"}

    def plain(tokens=new):
        with torch.inference_mode():
            out = model.generate(input_ids=prompt, attention_mask=mask, max_new_tokens=tokens,
                                 min_new_tokens=tokens, do_sample=False, pad_token_id=0, eos_token_id=None)
        if tokens == new:
            produced["plain_generate"] = out[0, args.prompt_tokens:].tolist()

    def pack(mode):
        def run(tokens=new):
            streamed = []
            hooks = DecodeHooks(tokenizer, streamed.append, lambda: False, [])
            run_generate(model, tokenizer, GenerationSettings(max_new_tokens=tokens, temperature=0.0, seed=0),
                         hooks, [], mode, input_ids=prompt, attention_mask=mask)
            assert len(hooks.ids) == tokens, f"decoded {len(hooks.ids)} tokens, expected {tokens}"
            if tokens == new:
                produced[f"genassist_{mode}"] = hooks.ids
                ran[f"genassist_{mode}"] = decode_plan.last_path(model)
        return run

    wanted = [p.strip() for p in args.paths.split(",") if p.strip() not in ("", "plain")]
    if args.compile and "compiled" not in wanted:
        wanted.append("compiled")
    paths = {"plain_generate": plain, **{f"genassist_{mode}": pack(mode) for mode in wanted}}
    warmup = {}
    for name, fn in paths.items():  # first call: allocator, kernel selection, and the compile itself
        start = time.perf_counter()
        fn()
        sync(device)
        warmup[name] = round(time.perf_counter() - start, 2)
    weights = weight_bytes_per_token(model)
    if device.type == "cuda":
        peak, source = peak_bandwidth(device, args.bandwidth)
    else:
        peak, source = (args.bandwidth * 1e9, "--bandwidth") if args.bandwidth else (
            copy_bandwidth(device), "measured CPU copy bandwidth")
    roofline = peak / weights if peak else None
    result = {"model": label, "device": device_name(device), "dtype": str(dtype).replace("torch.", ""),
              "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
              "weight_mb_read_per_token": round(weights / 2**20, 1), "prompt_tokens": args.prompt_tokens,
              "new_tokens": new, "peak_bandwidth_gb_s": round(peak / 1e9, 1) if peak else None,
              "bandwidth_source": source, "roofline_decode_tok_s": round(roofline, 1) if roofline else None,
              "decode_tok_s": "(new_tokens - 1) / (time of new_tokens - time of 1 token): decoding only",
              "paths": {}}
    times = {name: ([], []) for name in paths}
    for _ in range(args.repeats):  # round robin, so a busy machine slows every path alike
        for name, fn in paths.items():
            times[name][0].append(time_call(functools.partial(fn, 1), device, 1))  # prefill + first token
            times[name][1].append(time_call(fn, device, 1))
    for name in paths:
        one, seconds = statistics.median(times[name][0]), statistics.median(times[name][1])
        # None when decoding took no measurable time beyond the first token (raise --new-tokens)
        decode = (new - 1) / (seconds - one) if seconds > one else None
        result["paths"][name] = {
            "decode_tok_s": round(decode, 2) if decode else None, "end_to_end_s": round(seconds, 3),
            "prefill_s": round(one, 3), "first_call_s": warmup[name],
            "fraction_of_roofline": round(decode / roofline, 3) if roofline and decode else None,
            "same_tokens_as_plain_greedy": produced[name] == produced["plain_generate"], "path_ran": ran[name]}
    graphs = result["paths"].get("genassist_graphs")
    if graphs:
        graphs["bare_step_ms"] = step = bare_step_ms(model, device)
        if step and graphs["decode_tok_s"]:  # what generate's loop, our hooks and the buffer copies add per token
            graphs["loop_overhead_ms_per_token"] = round(1e3 / graphs["decode_tok_s"] - step, 3)
    base = result["paths"]["plain_generate"]
    for entry in result["paths"].values():
        both = entry["decode_tok_s"] and base["decode_tok_s"]
        entry["vs_plain"] = round(entry["decode_tok_s"] / base["decode_tok_s"], 3) if both else None
        entry["end_to_end_vs_plain"] = round(base["end_to_end_s"] / entry["end_to_end_s"], 3)
    if device.type != "cuda":
        result["note"] = "CPU: compute, not memory, often bounds small models; the default path here is eager"
    log.info("%s", json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
