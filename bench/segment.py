"""Segmentation speed: N queries on one image with and without SAM's embedding cache, and LISA latency.

1. Cache (CPU always, and the GPU when there is one): N box prompts on one image through SamPredictor,
   once with the embedding cache (one encoder pass) and once with it disabled (N passes). Reports both
   times and their ratio. The SAM has an official architecture (ViT-B by default) with random weights:
   the work per pass is the same as with the released file.
2. LISA (GPU only): end-to-end latency of a LISA-7B-shaped model (LLaMA-7B, CLIP-L/14-224, SAM ViT-H,
   random weights, bf16; ComfyUI's Llama-3 tokenizer stands in, so the vocabulary is 128k, not 32k) per stage: CLIP, prefill + decoding of K answer tokens, the full pass for the
   [SEG] hidden state, SAM encoder and decoder. Decoding speed is compared with the memory-bandwidth
   roofline (every step reads all language-model weights once).

3. SAM 3 (bench/segment_sam3.py; GPU, or --sam3-small-cpu for a CPU smoke run): one phrase and N phrases on
   one image with the released shape and random weights, compared in the same run with LISA and the
   Grounded Segmenter (a labelled proxy: LISA-7B's decode + SAM ViT-H).

    python bench/segment.py [--variant vit_b|vit_l|vit_h] [--queries 4] [--device auto|cpu|cuda]
                            [--lisa-tokens 32] [--skip-lisa] [--lisa-small-cpu] [--compile] [--skip-cache]
                            [--bandwidth GB/s] [--json FILE] [--skip-sam3] [--sam3-small-cpu]

LISA's generate stage is timed once per decoding path: eager (plain transformers decoding), auto (the
pack's default, eager unless GENASSIST_DECODE says otherwise), graphs (recorded CUDA graphs, what Load
LISA's compile picks on a GPU) and, with --compile, compiled (torch.compile).
"""

import argparse
import json
import logging
import time
from pathlib import Path

import _pack  # noqa: F401  (the pack as genassist, the tests' harness)
from _roofline import device_name, peak_bandwidth, weight_bytes_per_token
from _timing import sync

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("bench.segment")



def official_sam(variant: str, device, dtype):
    import torch
    from segment_anything import sam_model_registry

    torch.manual_seed(0)
    with torch.device("meta"):
        skeleton = sam_model_registry[variant]()
    from genassist.segmentation.sam_model import sam_from_state_dict

    state = {k: torch.randn(v.shape) * 0.02 if v.dim() > 1 else torch.zeros(v.shape)
             for k, v in skeleton.state_dict().items()}
    sam, spec = sam_from_state_dict(state, dtype)
    return sam.to(device), spec


def bench_cache(variant: str, queries: int, device, dtype) -> dict:
    import numpy as np

    from genassist.mllm.vision_cache import FeatureCache
    from genassist.segmentation.sam_predict import Prompt, SamPredictor

    sam, spec = official_sam(variant, device, dtype)
    image = (np.random.RandomState(0).rand(768, 1024, 3) * 255).astype(np.uint8)
    rng = np.random.RandomState(1)
    boxes = []
    for _ in range(queries):
        x, y = rng.randint(0, 600), rng.randint(0, 400)
        boxes.append((float(x), float(y), float(x + 300), float(y + 300)))
    SamPredictor(sam, FeatureCache(0)).embed(image[:64, :64])  # warm-up: one-off allocations
    results = {}
    for label, max_items in (("uncached", 0), ("cached", 8)):
        predictor = SamPredictor(sam, FeatureCache(max_items))
        sync(device)
        start = time.perf_counter()
        for box in boxes:
            predictor.masks_for_prompts(predictor.embed(image), [Prompt(box=box)])
        sync(device)
        results[label] = {"seconds": round(time.perf_counter() - start, 3),
                          "encoder_passes": predictor.cache.encoder_passes}
    return {"variant": spec.variant, "device": str(device), "dtype": str(dtype).replace("torch.", ""),
            "queries": queries, **results,
            "speedup_cached_vs_uncached": round(results["uncached"]["seconds"] / results["cached"]["seconds"], 2)}


def llava_parts(vocab: int, device, dtype, small: bool, image_size: int = 224, with_mlp: bool = False,
                max_positions: int = 2048):
    """(language model, projector, CLIP vision tower, hidden, vision hidden) of a LLaVA-1.5-7B shape (LLaMA-7B,
    CLIP-L/14), or small ones, random weights, built directly on ``device`` (also used by the memory bench)."""
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

    hidden, layers, vision_hidden, vision_layers = (256, 2, 64, 2) if small else (4096, 32, 1024, 24)
    config = LlamaConfig(hidden_size=hidden, intermediate_size=hidden * 11008 // 4096, num_hidden_layers=layers,
                         num_attention_heads=hidden // 128, vocab_size=vocab, max_position_embeddings=max_positions,
                         tie_word_embeddings=False)
    torch.manual_seed(0)
    with torch.device(device):
        torch.set_default_dtype(dtype)
        try:
            lm = LlamaForCausalLM(config).eval()
            vision = CLIPVisionModel(CLIPVisionConfig(
                hidden_size=vision_hidden, intermediate_size=4 * vision_hidden, num_hidden_layers=vision_layers,
                num_attention_heads=max(1, vision_hidden // 64), image_size=image_size, patch_size=14)).eval()
            projector = (torch.nn.Sequential(torch.nn.Linear(vision_hidden, hidden), torch.nn.GELU(),
                                             torch.nn.Linear(hidden, hidden)) if with_mlp
                         else torch.nn.Linear(vision_hidden, hidden))
        finally:
            torch.set_default_dtype(torch.float32)
    return lm, projector, vision, hidden, vision_hidden


def lisa_shaped(device, dtype, small: bool = False):
    """LisaModel with LISA-7B's shapes (or small ones, for a CPU smoke run) and random weights, built
    directly on the device."""
    from transformers import AutoTokenizer

    from genassist.mllm.legacy_llava import LegacyLlava, LegacyLlavaSpec
    from genassist.segmentation.lisa import LisaModel, text_hidden_fcs
    from harness import host

    tokenizer = AutoTokenizer.from_pretrained(str(host.comfy_dir() / "comfy" / "text_encoders" / "llama_tokenizer"))
    tokenizer.add_tokens(["[SEG]"])
    tokenizer.add_tokens(["<im_start>", "<im_end>"], special_tokens=True)
    lm, projector, vision, hidden, _ = llava_parts(len(tokenizer), device, dtype, small)
    spec = LegacyLlavaSpec(name="LISA-7B-shaped", backbone="llama", backbone_config={}, hidden_size=hidden,
                           vision_tower="openai/clip-vit-large-patch14", use_im_start_end=True, image_mode="crop",
                           template="llava_v1")
    llava = LegacyLlava(spec, lm, projector, vision)
    sam, _ = official_sam("vit_b" if small else "vit_h", device, dtype)
    return LisaModel(llava, sam, text_hidden_fcs(hidden).to(device, dtype), tokenizer, spec.name).eval()


def bench_lisa(device, dtype, answer_tokens: int, small: bool = False, paths=("eager", "auto"),
               bandwidth_gb_s: float | None = None) -> dict:
    """LISA's stages, the generate stage once per decoding path (eager = plain transformers decoding,
    auto = the pack's default, graphs, compiled = --compile), with token identity against the eager answer
    and the path that really ran (a failing one falls back)."""
    import numpy as np
    import torch
    from PIL import Image

    from genassist.mllm import decode_plan
    from genassist.mllm.backend import GenerationSettings
    from genassist.mllm.image_tokens import splice_image_features
    from genassist.segmentation import lisa as lisa_module
    from genassist.segmentation.lisa import seg_hidden_positions

    model = lisa_shaped(device, dtype, small)
    lisa_module.eos_ids = lambda *args, **kwargs: []  # random weights: decode exactly answer_tokens tokens
    model.llava.language_model.generation_config.eos_token_id = None
    image = Image.fromarray((np.random.RandomState(0).rand(768, 1024, 3) * 255).astype(np.uint8))
    settings = GenerationSettings(max_new_tokens=answer_tokens, temperature=0.0)
    embed_tokens = model.llava.language_model.get_input_embeddings()
    stages, first_call, answers, ran = {}, {}, {}, {}

    def timed(name, fn, *args):
        sync(device)
        start = time.perf_counter()
        out = fn(*args)
        sync(device)
        stages[name] = round(time.perf_counter() - start, 4)
        first_call.setdefault(name, stages[name])
        return out

    for _ in range(2):  # the second round is reported (the first pays kernel selection, allocation, compile)
        model.sam_cache.clear()
        model.llava.feature_cache.clear()
        ids = model.prompt_ids("What in this picture would people sit on?").to(device)
        with torch.inference_mode():
            features = timed("clip", model.image_features, image)
            embeds, _ = splice_image_features(ids, embed_tokens, [features])
        for path in paths:
            model.decode_mode = path
            answers[path] = timed(f"generate_{path}", model.generate_ids, embeds, settings)
            ran[path] = decode_plan.last_path(model.llava.language_model)
        new = answers[paths[0]]
        full = torch.cat([ids, torch.tensor(new + [model.seg_id], device=device)])
        with torch.inference_mode():
            full_embeds, index_map = splice_image_features(full, embed_tokens, [features])
            hidden = timed("seg_hidden_pass", model.last_hidden_states, full_embeds)
            token = model.text_hidden_fcs[0](hidden[seg_hidden_positions(full, index_map, model.seg_id)])
        predictor = model.predictor
        embedding = timed("sam_encoder", predictor.embed, image)
        timed("sam_decoder", predictor.masks_for_tokens, embedding, token)
    lm_bytes = weight_bytes_per_token(model.llava.language_model)
    cuda = device.type == "cuda"
    bandwidth, source = peak_bandwidth(device, bandwidth_gb_s)
    roofline = bandwidth / lm_bytes if bandwidth else None
    generate = {}
    for path in paths:
        seconds = stages[f"generate_{path}"]
        generate[path] = {"seconds": seconds, "first_call_s": first_call[f"generate_{path}"],
                          "tokens_per_s_incl_prefill": round(len(answers[path]) / seconds, 1),
                          "speedup_vs_eager": round(stages[f"generate_{paths[0]}"] / seconds, 2),
                          "same_tokens_as_eager": answers[path] == answers[paths[0]], "path_ran": ran[path]}
        if roofline:
            generate[path]["fraction_of_roofline"] = round(len(answers[path]) / seconds / roofline, 3)
    default = "auto" if "auto" in paths else paths[-1]
    per_query = {k: v for k, v in stages.items() if not k.startswith("generate_")}
    per_query["generate"] = stages[f"generate_{default}"]
    result = {"device": device_name(device), "shape": "small (smoke run)" if small else "LISA-7B",
              "dtype": str(dtype).replace("torch.", ""), "prompt_positions": int(embeds.shape[0]),
              "answer_tokens": len(new), "stages_s": per_query, "total_s_default_path": round(sum(per_query.values()), 3),
              "generate_by_path": generate, "bandwidth_source": source,
              "roofline_tokens_per_s": round(roofline, 1) if roofline else None}
    if cuda:
        result["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return result


def run_sam3(report: dict, args, cuda: bool) -> None:
    """SAM 3 with 1 and 4x --queries phrases, and its comparison with LISA / Grounded Segmenter (same run)."""
    import torch
    from segment_sam3 import bench_sam3, compare

    if cuda and not args.skip_sam3:
        report["sam3_gpu"] = bench_sam3(torch.device("cuda"), torch.bfloat16, 4 * args.queries)
        report["sam3_vs_others_gpu"] = compare(report["sam3_gpu"], report.get("lisa_gpu"), report.get("cache_gpu"))
        log.info("%s", json.dumps(report["sam3_vs_others_gpu"]))
    if args.sam3_small_cpu:
        report["sam3_small_cpu"] = bench_sam3(torch.device("cpu"), torch.float32, args.queries, small=True)
        report["sam3_vs_others_small_cpu"] = compare(report["sam3_small_cpu"], report.get("lisa_small_cpu"),
                                                     report.get("cache_cpu"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="vit_b", choices=["vit_b", "vit_l", "vit_h"])
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--lisa-tokens", type=int, default=32)
    parser.add_argument("--skip-lisa", action="store_true")
    parser.add_argument("--lisa-small-cpu", action="store_true", help="smoke-run the LISA stages on the CPU with "
                        "small shapes (no GPU needed; times are not LISA-7B's)")
    parser.add_argument("--skip-sam3", action="store_true")
    parser.add_argument("--sam3-small-cpu", action="store_true", help="smoke-run SAM 3 on the CPU with the tests' "
                        "tiny config (no GPU needed; times are not SAM 3's)")
    parser.add_argument("--compile", action="store_true", help="also time LISA's compiled decoding path")
    parser.add_argument("--skip-cache", action="store_true", help="skip the SAM embedding-cache part")
    parser.add_argument("--bandwidth", type=float, help="peak memory bandwidth in GB/s (default: by GPU name)")
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    cuda = torch.cuda.is_available() and args.device != "cpu"
    paths = ("eager", "auto", "graphs") + (("compiled",) if args.compile else ())
    report = {}
    if not args.skip_cache:
        report["cache_cpu"] = bench_cache(args.variant, args.queries, torch.device("cpu"), torch.float32)
        log.info("%s", json.dumps(report["cache_cpu"]))
    if cuda:
        if not args.skip_cache:
            report["cache_gpu"] = bench_cache("vit_h", 4 * args.queries, torch.device("cuda"), torch.bfloat16)
            log.info("%s", json.dumps(report["cache_gpu"]))
        if not args.skip_lisa:
            report["lisa_gpu"] = bench_lisa(torch.device("cuda"), torch.bfloat16, args.lisa_tokens, paths=paths,
                                            bandwidth_gb_s=args.bandwidth)
            log.info("%s", json.dumps(report["lisa_gpu"]))
    else:
        report["lisa_gpu"] = "skipped: no CUDA device"
    if args.lisa_small_cpu:
        report["lisa_small_cpu"] = bench_lisa(torch.device("cpu"), torch.float32, args.lisa_tokens, small=True,
                                              paths=("eager", "static", "graphs"), bandwidth_gb_s=args.bandwidth)
    run_sam3(report, args, cuda)
    print(json.dumps(report, indent=2))  # noqa: T201 - the report is the script's output
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
