"""Decode benchmark: prefill and decode tokens/s (batch 1) of GenAssist's decoding loop (streaming, stop
hook, scoped seed) against plain ``model.generate`` in the same run, and on a GPU against the
memory-bandwidth roofline (weight bytes / measured device copy bandwidth).

    python bench/mllm_decode.py --arch small                 # random weights, CPU-friendly
    python bench/mllm_decode.py --arch qwen2-1.5b --device cuda
    python bench/mllm_decode.py --model-dir models/LLM/Qwen2.5-VL-3B-Instruct --device cuda

Both paths decode exactly --new-tokens tokens (EOS disabled): this measures speed, not answers.
"""

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

import _pack  # noqa: F401  (the pack as genassist, the tests' harness)
import torch

from genassist.mllm.backend import GenerationSettings  # noqa: E402
from genassist.mllm.decoding import generate_text  # noqa: E402

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


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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


def weight_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def copy_bandwidth(device, megabytes=512, repeats=10) -> float:
    """Bytes/s of a device-local copy (read + write counted), the bound decode runs into."""
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
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=sorted(ARCHS), default="small")
    parser.add_argument("--model-dir", help="a model folder instead of a random-weight architecture")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default=None)
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
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
    settings = GenerationSettings(max_new_tokens=new, temperature=0.0, seed=0)

    def prefill():
        with torch.inference_mode():
            model(input_ids=prompt, attention_mask=mask, use_cache=True)

    def plain():
        with torch.inference_mode():
            out = model.generate(input_ids=prompt, attention_mask=mask, max_new_tokens=new, min_new_tokens=new,
                                 do_sample=False, pad_token_id=0, eos_token_id=None)
        assert out.shape[-1] == args.prompt_tokens + new

    streamed = []

    def ours():
        streamed.clear()
        generate_text(model, tokenizer, settings, on_text=streamed.append, should_stop=lambda: False,
                      input_ids=prompt, attention_mask=mask)
        assert len(streamed) == new, f"decoded {len(streamed)} tokens, expected {new}"

    plain()  # warm-up (allocator, kernels)
    ours()
    t_prefill = time_call(prefill, device, args.repeats)
    t_plain = time_call(plain, device, args.repeats)
    t_ours = time_call(ours, device, args.repeats)
    decode_plain = new / max(t_plain - t_prefill, 1e-9)
    decode_ours = new / max(t_ours - t_prefill, 1e-9)
    result = {
        "model": label, "device": str(device), "dtype": str(dtype).replace("torch.", ""),
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "weight_mb": round(weight_bytes(model) / 2**20, 1),
        "prompt_tokens": args.prompt_tokens, "new_tokens": new,
        "prefill_tok_s": round(args.prompt_tokens / t_prefill, 1),
        "decode_tok_s_plain_generate": round(decode_plain, 2),
        "decode_tok_s_genassist": round(decode_ours, 2),
        "genassist_vs_plain": round(decode_ours / decode_plain, 3),
        "end_to_end_s_plain": round(t_plain, 3), "end_to_end_s_genassist": round(t_ours, 3),
    }
    bandwidth = copy_bandwidth(device)
    roofline = bandwidth / weight_bytes(model)
    result.update({"copy_bandwidth_gb_s": round(bandwidth / 1e9, 1), "roofline_decode_tok_s": round(roofline, 1),
                   "genassist_vs_roofline": round(decode_ours / roofline, 3)})
    if device.type != "cuda":
        result["note"] = "CPU: roofline uses memcpy bandwidth; compute, not memory, often bounds small CPU models"
    for key, value in result.items():
        log.info("%-30s %s", key, value)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
