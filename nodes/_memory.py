"""Hand our torch models to ComfyUI's memory manager so the diffusion model can evict them."""

import logging

import comfy.model_management as mm
import comfy.model_patcher
import torch

from ..mllm.static_decode import release_decode_buffers
from ..mllm.vision_cache import clear_feature_caches

log = logging.getLogger("GenAssist")


class LoggedModelPatcher(comfy.model_patcher.ModelPatcher):
    """A ModelPatcher that says when ComfyUI moves its weights: onto the compute device before a run, back to
    system RAM when another model needs the room. The module stays in RAM between runs, so coming back is a
    copy, never a reload from disk."""

    label = ""

    def clone(self):
        twin = super().clone()
        twin.label = self.label
        return twin

    def _name(self) -> str:
        inner = getattr(self.model, "inner", self.model)
        return self.label or type(inner).__name__

    def load(self, device_to=None, lowvram_model_memory=0, force_patch_weights=False, full_load=False):
        before = self.loaded_size()
        result = super().load(device_to, lowvram_model_memory, force_patch_weights, full_load)
        if self.loaded_size() > before:
            log.info("GenAssist: %s moved to %s (%s)", self._name(), device_to or self.load_device,
                     _size(self.loaded_size()))
        return result

    def partially_unload(self, device_to, memory_to_free=0, force_patch_weights=False):
        freed = super().partially_unload(device_to, memory_to_free, force_patch_weights)
        if freed:
            self._release_device_state()
            log.info("GenAssist: %s partly offloaded to %s (%s moved, %s stay)", self._name(), device_to,
                     _size(freed), _size(self.loaded_size()))
        return freed

    def detach(self, unpatch_all=True):
        loaded = self.loaded_size()
        result = super().detach(unpatch_all)
        if loaded and unpatch_all:
            self._release_device_state()
            log.info("GenAssist: %s offloaded to %s (%s; kept in RAM, no reload from disk)", self._name(),
                     self.offload_device, _size(loaded))
        return result


    def _release_device_state(self) -> None:
        """What an offloaded model kept on the GPU beside its weights leaves with them: an MLLM's decoding
        KV cache and recorded decode graphs, cached image features (vision towers, SAM in LISA)."""
        if not isinstance(self.model, torch.nn.Module):
            return
        if release_decode_buffers(self.model) + clear_feature_caches(self.model):
            log.info("GenAssist: %s's decoding KV cache and cached image features released", self._name())


def _size(num_bytes: float) -> str:
    return f"{num_bytes / 2**30:.2f} GiB" if num_bytes >= 2**30 else f"{num_bytes / 2**20:.1f} MiB"


def wrap_model(module, role: str = "text_encoder", label: str = "") -> LoggedModelPatcher:
    """A ModelPatcher around a plain nn.Module. role picks ComfyUI's device policy:
    'text_encoder' for LLMs/vision towers (like core CLIP), 'model' for image networks (like upscalers).
    label names the model in the log lines about its moves."""
    if role == "text_encoder":
        load, offload = mm.text_encoder_device(), mm.text_encoder_offload_device()
    else:
        load, offload = mm.get_torch_device(), mm.unet_offload_device()
    patcher = LoggedModelPatcher(module, load_device=load, offload_device=offload)
    patcher.label = label
    return patcher


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
