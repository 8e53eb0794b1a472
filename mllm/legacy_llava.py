"""Legacy LLaVA checkpoints (LLMGA, LISA, MGIE) in their original layout, assembled from transformers parts.

The original code subclasses transformers' internals of 2023 (4.31) and breaks on every release. Here the
checkpoint is split by key prefix and each part is built from a stable transformers class:

    model.embed_tokens / model.layers / model.norm / lm_head  -> AutoModelForCausalLM of the backbone
    model.mm_projector.*                                      -> build_projector (linear / mlpNx_gelu)
    model.vision_tower.vision_tower.*                         -> CLIPVisionModel (or a separate CLIP folder)
    anything else (LISA's visual_model, text_hidden_fcs ...)  -> returned untouched in ``extras``

Images are spliced in place of the <image> placeholder (id -200) by ``image_tokens.splice_image_features``.
API for other capabilities: ``read_spec``, ``load_legacy_llava``, ``LegacyLlava.embed``,
``clip_vision.clip_patch_features``, ``build_prompt`` and ``tokenize_with_images``.
"""

import json
import logging
import os
import re
from dataclasses import dataclass, field

import torch
from torch import nn

from . import weights
from .clip_vision import clip_patch_features, clip_vision_from_state_dict, prepare_image
from .conversation import TEMPLATES, image_prefix, render, template_for_model_name
from .image_tokens import IMAGE_TOKEN_INDEX, splice_image_features
from .vision_cache import FeatureCache

log = logging.getLogger(__name__)

VISION_PREFIXES = ("model.vision_tower.vision_tower.", "model.vision_tower.")
PROJECTOR_PREFIX = "model.mm_projector."
LM_PREFIXES = ("model.embed_tokens.", "model.layers.", "model.norm.", "lm_head.")

# legacy model_type / architecture names -> transformers backbone model_type
_BACKBONES = (("mistral", "mistral"), ("qwen2", "qwen2"), ("qwen", "qwen2"), ("gemma", "gemma"),
              ("phi3", "phi3"), ("phi-3", "phi3"), ("mpt", "mpt"), ("llama", "llama"), ("llava", "llama"))
_NOT_BACKBONE_KEYS = ("model_type", "architectures", "auto_map", "transformers_version", "_name_or_path")


@dataclass
class LegacyLlavaSpec:
    """What config.json of a legacy LLaVA checkpoint says about its multimodal parts."""

    name: str
    backbone: str  # transformers model_type of the language model
    backbone_config: dict
    projector_type: str = "linear"
    mm_hidden_size: int = 1024
    hidden_size: int = 4096
    vision_tower: str = "openai/clip-vit-large-patch14-336"
    select_layer: int = -2
    select_feature: str = "patch"
    use_im_start_end: bool = False
    image_mode: str = "stretch"
    template: str = "llava_v1"
    extra_config: dict = field(default_factory=dict)

    @property
    def image_size(self) -> int:
        """CLIP input size from the tower's name (…-336 → 336, CLIP-L/14 → 224)."""
        match = re.search(r"-(\d{3})$", self.vision_tower.rstrip("/"))
        return int(match.group(1)) if match else 224


def is_legacy_llava_config(config: dict) -> bool:
    """Original-layout LLaVA configs carry mm_* keys at top level (HF '-hf' ports use vision_config)."""
    return "vision_config" not in config and any(k in config for k in ("mm_vision_tower", "mm_hidden_size",
                                                                        "mm_projector_type"))


def _backbone_type(config: dict) -> str:
    names = [str(config.get("model_type", ""))] + [str(a) for a in config.get("architectures") or []]
    for name in names:
        low = name.lower().replace("llava_", "")
        for needle, backbone in _BACKBONES:
            if needle in low:
                return backbone
    raise ValueError(f"cannot tell the language backbone from model_type/architectures {names}")


def read_spec(folder: str, image_mode: str | None = None, template: str | None = None) -> LegacyLlavaSpec:
    """Parse folder/config.json. image_mode defaults to LLMGA's 'stretch' ('crop' for LISA-style
    checkpoints with <im_start>/<im_end>); template defaults to LLMGA's name rule."""
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    if not is_legacy_llava_config(config):
        raise ValueError(f"{folder} is not a legacy LLaVA checkpoint (no mm_* keys in config.json)")
    backbone = _backbone_type(config)
    use_start_end = bool(config.get("mm_use_im_start_end", False))
    name = os.path.basename(os.path.normpath(folder))
    if backbone == "llama" and config.get("vocab_size", 0) >= 128000:
        family_hint = "llama3"
    else:
        family_hint = backbone
    return LegacyLlavaSpec(
        name=name, backbone=backbone,
        backbone_config={k: v for k, v in config.items()
                         if k not in _NOT_BACKBONE_KEYS and not k.startswith("mm_")},
        projector_type=config.get("mm_projector_type", "linear"),
        mm_hidden_size=int(config.get("mm_hidden_size", 1024)),
        hidden_size=int(config["hidden_size"]),
        vision_tower=str(config.get("mm_vision_tower") or config.get("vision_tower")
                         or "openai/clip-vit-large-patch14"),
        select_layer=int(config.get("mm_vision_select_layer", -2)),
        select_feature=str(config.get("mm_vision_select_feature", "patch")),
        use_im_start_end=use_start_end,
        image_mode=image_mode or ("crop" if use_start_end else "stretch"),
        template=template or template_for_model_name(name, family_hint),
        extra_config=config,
    )


def build_projector(projector_type: str, in_dim: int, out_dim: int) -> nn.Module:
    """LLaVA's projectors; the Sequential indices (0, 2, ...) match the checkpoint keys."""
    if projector_type == "linear":
        return nn.Linear(in_dim, out_dim)
    if projector_type == "identity":
        return nn.Identity()
    match = re.fullmatch(r"mlp(\d+)x_gelu", projector_type)
    if not match:
        raise ValueError(f"unsupported mm_projector_type {projector_type!r} "
                         "(supported: linear, identity, mlpNx_gelu)")
    layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
    for _ in range(int(match.group(1)) - 1):
        layers += [nn.GELU(), nn.Linear(out_dim, out_dim)]
    return nn.Sequential(*layers)


def build_language_model(spec: LegacyLlavaSpec, state: dict, dtype=torch.float32) -> nn.Module:
    """The backbone causal LM from the LM keys of ``state`` (popped from it)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING

    lm_state = {k: state.pop(k) for k in [k for k in state if k.startswith(LM_PREFIXES)]}
    if "model.embed_tokens.weight" not in lm_state:
        raise ValueError("checkpoint has no model.embed_tokens.weight: not a LLaVA-layout language model")
    config_kwargs = dict(spec.backbone_config)
    config_kwargs["vocab_size"] = lm_state["model.embed_tokens.weight"].shape[0]  # resized for added tokens
    config_kwargs["tie_word_embeddings"] = "lm_head.weight" not in lm_state
    config = AutoConfig.for_model(spec.backbone, **config_kwargs)
    model_class = MODEL_FOR_CAUSAL_LM_MAPPING[type(config)]
    return model_class.from_pretrained(None, config=config, state_dict=lm_state, **weights.dtype_kwarg(dtype)).eval()


def build_vision_tower(state: dict, vision_dir: str | None = None, dtype=torch.float32) -> nn.Module:
    """CLIPVisionModel from the checkpoint's own tower keys (popped from state), else from vision_dir."""
    from transformers import CLIPVisionModel

    vision_state = {}
    for prefix in VISION_PREFIXES:
        vision_state = weights.split_prefix(state, prefix)
        if vision_state:
            break
    if vision_state:
        return clip_vision_from_state_dict(vision_state, dtype)
    if not vision_dir:
        raise FileNotFoundError("this checkpoint has no vision tower weights; a CLIP vision folder is needed")
    return CLIPVisionModel.from_pretrained(vision_dir, local_files_only=True, **weights.dtype_kwarg(dtype)).eval()


class LegacyLlava(nn.Module):
    """Language model + projector + CLIP tower of a legacy LLaVA checkpoint, as one module (so a single
    ModelPatcher moves it). ``extras`` keeps the unused keys (LISA's SAM and [SEG] head)."""

    def __init__(self, spec: LegacyLlavaSpec, language_model: nn.Module, projector: nn.Module,
                 vision_tower: nn.Module | None, extras: dict | None = None):
        super().__init__()
        self.spec = spec
        self.language_model = language_model
        self.projector = projector
        self.vision_tower = vision_tower
        self.extras = extras or {}
        self.feature_cache = FeatureCache()  # projected CLIP features of the last few images

    @property
    def device(self) -> torch.device:
        return next(self.language_model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.language_model.parameters()).dtype

    def pixel_values(self, images) -> torch.Tensor:
        """PIL images -> [k,3,S,S] prepared the way this checkpoint was trained."""
        return torch.stack([prepare_image(img, self.spec.image_size, self.spec.image_mode) for img in images])

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """[k,3,S,S] -> projected patch features [k,N,H] on the model's device and dtype (the same pixels
        asked about again come from feature_cache, without gradients only)."""
        if self.vision_tower is None:
            raise RuntimeError("this model was loaded without a vision tower")

        def encode():
            features = clip_patch_features(self.vision_tower, pixel_values.to(self.device),
                                           self.spec.select_layer, self.spec.select_feature)
            return self.projector(features.to(self.dtype))

        return self.feature_cache.get_or_compute_inputs((pixel_values, self.device, self.dtype), {}, encode)

    def embed(self, input_ids: torch.Tensor, images=None):
        """input_ids [T] with -200 placeholders + PIL images -> (inputs_embeds [1,T',H], index_map [T])."""
        embed_tokens = self.language_model.get_input_embeddings()
        features = []
        if images:
            features = list(self.encode_images(self.pixel_values(images)))
        embeds, index_map = splice_image_features(input_ids.to(self.device), embed_tokens, features)
        return embeds.unsqueeze(0), index_map


def load_legacy_llava(folder: str, dtype=torch.float32, vision_dir: str | None = None,
                      image_mode: str | None = None, template: str | None = None,
                      with_vision: bool = True) -> LegacyLlava:
    spec = read_spec(folder, image_mode=image_mode, template=template)
    state = weights.load_state_dict(folder)
    projector_state = weights.split_prefix(state, PROJECTOR_PREFIX)
    projector = build_projector(spec.projector_type, spec.mm_hidden_size, spec.hidden_size)
    projector.load_state_dict(projector_state)
    projector.to(dtype)
    language_model = build_language_model(spec, state, dtype)
    vision = build_vision_tower(state, vision_dir, dtype) if with_vision else None
    for prefix in VISION_PREFIXES:  # never keep a tower we did not use in extras
        weights.split_prefix(state, prefix)
    log.info("legacy LLaVA %s: backbone %s, projector %s, template %s, %d extra tensors",
             spec.name, spec.backbone, spec.projector_type, spec.template, len(state))
    return LegacyLlava(spec, language_model, projector, vision, extras=state).eval()


def build_prompt(template: str, user_messages: list[str], assistant_messages: list[str] | None = None,
                 has_image: bool = True, use_im_start_end: bool = False, image_after_text: bool = False) -> str:
    """Render a conversation: user turns interleaved with the assistant's earlier answers, ending with an
    open assistant turn. The image goes into the first user turn, before the text (LLaVA/LLMGA/LISA),
    or after it (MGIE: ``image_after_text``)."""
    assistant_messages = list(assistant_messages or [])
    if len(assistant_messages) != len(user_messages) - 1:
        raise ValueError("need exactly one earlier assistant answer between consecutive user turns")
    users = list(user_messages)
    if has_image:
        token = image_prefix(use_im_start_end).rstrip("\n")
        users[0] = f"{users[0]}\n{token}" if image_after_text else f"{token}\n{users[0]}"
    messages: list[str | None] = []
    for i, text in enumerate(users):
        messages.append(text)
        messages.append(assistant_messages[i] if i < len(assistant_messages) else None)
    return render(TEMPLATES[template], messages)


def tokenize_with_images(tokenizer, prompt: str, image_token_index: int = IMAGE_TOKEN_INDEX) -> list[int]:
    """LLaVA's tokenizer_image_token: tokenize the text between <image> placeholders separately, keep one
    BOS at the start, and put image_token_index where each placeholder was."""
    chunks = [tokenizer(chunk).input_ids for chunk in prompt.split("<image>")]
    bos = tokenizer.bos_token_id
    offset = 1 if chunks and chunks[0] and bos is not None and chunks[0][0] == bos else 0
    ids = [chunks[0][0]] if offset else []
    for i, chunk in enumerate(chunks):
        if i:
            ids.append(image_token_index)
        ids.extend(chunk[offset:])
    return ids
