"""CLIP vision towers as legacy LLaVA uses them: preprocessing and penultimate-layer patch features."""

import torch
from PIL import Image

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGE_MODES = ("stretch", "pad", "crop")


def _resize_short_side(image: Image.Image, size: int) -> Image.Image:
    w, h = image.size
    if w <= h:
        return image.resize((size, max(size, int(size * h / w))), Image.BICUBIC)
    return image.resize((max(size, int(size * w / h)), size), Image.BICUBIC)


def _center_crop(image: Image.Image, size: int) -> Image.Image:
    w, h = image.size
    left, top = int((w - size) / 2), int((h - size) / 2)
    return image.crop((left, top, left + size, top + size))


def prepare_image(image: Image.Image, size: int, mode: str = "crop",
                  mean=CLIP_MEAN, std=CLIP_STD) -> torch.Tensor:
    """PIL image -> normalised float32 [3, size, size].

    mode 'crop': the stock CLIP processor (short side -> size, centre crop), as LISA and MGIE use it.
    mode 'stretch': resize to a square of the long side first (LLMGA's CLIs; nothing is cut off).
    mode 'pad': pad to a square with the mean colour first (LLaVA-1.5 'pad').
    """
    if mode not in IMAGE_MODES:
        raise ValueError(f"image mode must be one of {IMAGE_MODES}, got {mode!r}")
    image = image.convert("RGB")
    side = max(image.size)
    if mode == "stretch":
        image = image.resize((side, side), Image.LANCZOS)
    elif mode == "pad":
        canvas = Image.new("RGB", (side, side), tuple(int(c * 255) for c in mean))
        canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
        image = canvas
    image = _center_crop(_resize_short_side(image, size), size)
    pixels = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(size, size, 3)
    pixels = pixels.permute(2, 0, 1).float() / 255.0
    return (pixels - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


def vision_config_from_state_dict(state: dict, head_dim: int = 64):
    """A CLIPVisionConfig matching a flat CLIP vision state dict (keys 'embeddings.*', 'encoder.*').
    CLIP towers use 64-dim heads (ViT-L: 16 heads of 64), so heads = hidden / head_dim."""
    from transformers import CLIPVisionConfig

    patch = state["embeddings.patch_embedding.weight"]
    hidden, patch_size = patch.shape[0], patch.shape[-1]
    positions = state["embeddings.position_embedding.weight"].shape[0]
    grid = int(round((positions - 1) ** 0.5))
    layers = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("encoder.layers."))
    return CLIPVisionConfig(
        hidden_size=hidden, patch_size=patch_size, image_size=grid * patch_size,
        num_hidden_layers=layers, num_attention_heads=max(1, hidden // head_dim),
        intermediate_size=state["encoder.layers.0.mlp.fc1.weight"].shape[0],
        hidden_act="quick_gelu", layer_norm_eps=1e-5, num_channels=patch.shape[1])


def clip_patch_features(vision_model, pixel_values: torch.Tensor, select_layer: int = -2,
                        select_feature: str = "patch") -> torch.Tensor:
    """[B,3,S,S] -> [B,N,C]: hidden states of layer ``select_layer``; 'patch' drops the CLS token."""
    dtype = next(vision_model.parameters()).dtype
    out = vision_model(pixel_values.to(dtype), output_hidden_states=True)
    features = out.hidden_states[select_layer]
    if select_feature == "patch":
        return features[:, 1:]
    if select_feature == "cls_patch":
        return features
    raise ValueError(f"select_feature must be 'patch' or 'cls_patch', got {select_feature!r}")


def flat_clip_state(state: dict) -> dict:
    """Checkpoint CLIP keys without the 'vision_model.' level that transformers 4.x had."""
    return {k.removeprefix("vision_model."): v for k, v in state.items() if not k.endswith("position_ids")}


def clip_vision_from_state_dict(state: dict, dtype):
    """CLIPVisionModel from a CLIP vision state dict, whichever key layout the installed transformers uses
    (4.x nests everything under 'vision_model.', 5.x does not)."""
    from transformers import CLIPVisionModel

    flat = flat_clip_state(state)
    config = vision_config_from_state_dict(flat)
    with torch.device("meta"):
        nested = hasattr(CLIPVisionModel(config), "vision_model")
    keyed = {("vision_model." + k if nested else k): v for k, v in flat.items()}
    model = CLIPVisionModel(config).to(dtype)
    missing, unexpected = model.load_state_dict({k: v.to(dtype) for k, v in keyed.items()}, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"CLIP vision weights do not match: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()
