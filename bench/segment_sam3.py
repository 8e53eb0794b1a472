"""SAM 3 part of bench/segment.py: one phrase, and N phrases on one image, through the pack's Sam3Runner.

The model has the released shape (Sam3Config() defaults: ViT 1024 wide x 32 layers at 1008 px, CLIP text
encoder, DETR 6+6 layers with 200 queries) and random weights: the work per pass is the released model's.
ComfyUI's SD1.x CLIP tokenizer stands in for the released one (same vocabulary). ``small`` uses the tests'
tiny SAM 3 config instead, for a CPU smoke run (times are not SAM 3's).

Comparison (same run, same device): LISA-7B's stages from bench_lisa, and the Grounded Segmenter as
"an MLLM decodes a box answer, then SAM ViT-H masks it". The grounded figure is a proxy, labelled so: the
7B decode is LISA-7B's measured prefill + decode of the same number of tokens (a LLaVA-7B answering
boxes does the same work), plus SAM ViT-H's measured encoder (once per image) and decoder per query.
"""

import time

from _timing import sync


def sam3_shaped(device, dtype, small: bool = False):
    """(model, processor): released SAM 3 shapes (or the tests' tiny ones), random weights, on the device."""
    import torch
    from transformers import CLIPTokenizerFast, Sam3Config, Sam3ImageProcessor, Sam3Model, Sam3Processor

    from harness import host

    tokenizer = CLIPTokenizerFast.from_pretrained(str(host.comfy_dir() / "comfy" / "sd1_tokenizer"))
    if small:
        from tiny_models import sam3 as tiny

        config, processor = tiny.tiny_config(), tiny.processor()
    else:
        config = Sam3Config()
        processor = Sam3Processor(image_processor=Sam3ImageProcessor(), tokenizer=tokenizer)
    torch.manual_seed(0)
    with torch.device(device):
        torch.set_default_dtype(dtype)
        try:
            model = Sam3Model(config).eval()
        finally:
            torch.set_default_dtype(torch.float32)
    return model, processor


def bench_sam3(device, dtype, queries: int, small: bool = False) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from genassist.mllm.vision_cache import FeatureCache
    from genassist.segmentation.sam3 import Sam3Runner

    if device.type == "cuda":  # the peak reported is SAM 3's own, not an earlier bench's in this process
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    model, processor = sam3_shaped(device, dtype, small)
    image = Image.fromarray((np.random.RandomState(0).rand(768, 1024, 3) * 255).astype(np.uint8))
    phrases = ["vase", "chair", "red car", "person", "dog", "table", "bottle", "window"]
    phrases = (phrases * (queries // len(phrases) + 1))[:queries]
    Sam3Runner(model, processor, FeatureCache(0)).segment(image, "warm up", 0.5)  # kernels, allocations
    results = {}
    for label, count, max_items in (("one_query", 1, 8), ("n_queries_cached", queries, 8),
                                    ("n_queries_uncached", queries, 0)):
        runner = Sam3Runner(model, processor, FeatureCache(max_items))
        sync(device)
        start = time.perf_counter()
        for phrase in phrases[:count]:
            runner.segment(image, phrase, 0.5)
        sync(device)
        seconds = time.perf_counter() - start
        results[label] = {"queries": count, "seconds": round(seconds, 4), "per_query_s": round(seconds / count, 4),
                          "encoder_passes": runner.cache.encoder_passes}
    runner = Sam3Runner(model, processor, FeatureCache(8))
    sync(device)
    start = time.perf_counter()
    runner.vision_features(image)
    sync(device)
    encoder = time.perf_counter() - start
    cuda = device.type == "cuda"
    result = {"device": torch.cuda.get_device_name(device) if cuda else "cpu",
              "shape": "tiny (smoke run)" if small else "SAM 3 (Sam3Config defaults)",
              "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
              "dtype": str(dtype).replace("torch.", ""), "image": "1024x768", **results,
              "vision_encoder_s": round(encoder, 4)}
    if cuda:
        result["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return result


def compare(sam3: dict, lisa: dict | None, sam_cache: dict | None) -> dict:
    """Seconds for 1 and N queries on one image: SAM 3 (measured), LISA (from its measured stages: the SAM
    encoder once, everything else per query), Grounded Segmenter (proxy, see the module docstring)."""
    n = sam3["n_queries_cached"]["queries"]
    out = {"queries": n, "sam3_s": {"1": sam3["one_query"]["seconds"], str(n): sam3["n_queries_cached"]["seconds"]}}
    if isinstance(lisa, dict):
        stages = lisa["stages_s"]
        per_query = sum(v for k, v in stages.items() if k != "sam_encoder")
        out["lisa_s"] = {"1": round(per_query + stages["sam_encoder"], 4),
                         str(n): round(n * per_query + stages["sam_encoder"], 4)}
        if isinstance(sam_cache, dict):
            sam_encoder = stages["sam_encoder"]
            decode = stages["clip"] + stages["generate"]
            sam_decoder = max(0.0, sam_cache["cached"]["seconds"] - sam_encoder) / max(1, sam_cache["queries"])
            out["grounded_proxy_s"] = {"1": round(decode + sam_encoder + sam_decoder, 4),
                                       str(n): round(n * (decode + sam_decoder) + sam_encoder, 4)}
    return out
