"""8/4-bit weights for LISA's language model only (bitsandbytes, CUDA).

LISA's reference loads 8/4-bit with ``llm_int8_skip_modules=["visual_model"]``: SAM must stay in full
precision. Here only the Linear layers of the LLaMA decoder blocks are replaced, so SAM, the [SEG] head,
the projector, the CLIP tower and lm_head keep their weights by construction.
"""

import logging
from collections.abc import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)

QUANTIZATIONS = ("none", "8bit", "4bit")


def quantizable_linears(model: nn.Module) -> list[str]:
    """Names (relative to a LisaModel) of the Linear layers that may be quantized: the decoder blocks'."""
    return [name for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and name.startswith("llava.language_model.")
            and ".layers." in name]


def bnb_replacement(mode: str, compute_dtype: torch.dtype) -> Callable[[nn.Linear], nn.Module]:
    try:
        import bitsandbytes as bnb
    except ImportError as error:
        raise RuntimeError(f"quantization '{mode}' needs the bitsandbytes package: pip install bitsandbytes "
                           "(CUDA GPUs only), or set quantization to none") from error

    def replace(linear: nn.Linear) -> nn.Module:
        bias = linear.bias is not None
        weight = linear.weight.data.to("cpu", torch.float16)
        if mode == "8bit":
            new = bnb.nn.Linear8bitLt(linear.in_features, linear.out_features, bias=bias,
                                      has_fp16_weights=False, threshold=6.0)
            new.weight = bnb.nn.Int8Params(weight, requires_grad=False, has_fp16_weights=False)
        else:
            new = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=bias,
                                    compute_dtype=compute_dtype, quant_type="nf4")
            new.weight = bnb.nn.Params4bit(weight, requires_grad=False, quant_type="nf4")
        if bias:
            new.bias = nn.Parameter(linear.bias.data.to("cpu", compute_dtype), requires_grad=False)
        return new

    return replace


def quantize_language_model(model: nn.Module, mode: str, device: torch.device,
                            replacement: Callable[[nn.Linear], nn.Module] | None = None) -> int:
    """Swap the decoder Linear layers for quantized ones on ``device`` (bitsandbytes quantizes on the
    move to CUDA). Returns how many layers were replaced."""
    if mode not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {mode!r}")
    if mode == "none":
        return 0
    if replacement is None:
        if getattr(device, "type", str(device)) != "cuda":
            raise RuntimeError(f"quantization '{mode}' runs on CUDA GPUs only; set quantization to none")
        compute = next(model.visual_model.parameters()).dtype
        replacement = bnb_replacement(mode, compute if compute != torch.float32 else torch.float16)
    names = quantizable_linears(model)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, replacement(getattr(parent, child)).to(device))
    log.info("quantized %d language-model layers to %s; SAM and the [SEG] head stay in full precision",
             len(names), mode)
    return len(names)
