"""Hand our torch models to ComfyUI's memory manager so the diffusion model can evict them."""

import comfy.model_management as mm
import comfy.model_patcher


def wrap_model(module, role: str = "text_encoder") -> "comfy.model_patcher.ModelPatcher":
    """A ModelPatcher around a plain nn.Module. role picks ComfyUI's device policy:
    'text_encoder' for LLMs/vision towers (like core CLIP), 'model' for image networks (like upscalers)."""
    if role == "text_encoder":
        load, offload = mm.text_encoder_device(), mm.text_encoder_offload_device()
    else:
        load, offload = mm.get_torch_device(), mm.unet_offload_device()
    return comfy.model_patcher.ModelPatcher(module, load_device=load, offload_device=offload)


def load_for_inference(patcher, activation_bytes: int = 0):
    """Load fully onto the compute device (plain nn layers cannot be split), evicting others as needed."""
    mm.load_models_gpu([patcher], memory_required=activation_bytes, force_full_load=True)
    return patcher.load_device


def preferred_dtype(device, choice: str = "auto"):
    """'auto': bf16 where supported, else fp16 on GPU; fp32 on CPU. Explicit choices pass through."""
    import torch

    explicit = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    if choice in explicit:
        return explicit[choice]
    if mm.is_device_cpu(device):
        return torch.float32
    if mm.should_use_bf16(device):
        return torch.bfloat16
    return torch.float16 if mm.should_use_fp16(device) else torch.float32
