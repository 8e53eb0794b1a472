"""A tiny LISA checkpoint in the released layout (xinlai/LISA-7B-v1) and the separate CLIP-L/14-224 folder.

LISA folder (models/LLM/LISA-7B-v1): config.json as LISA saves it (model_type llava, LISAForCausalLM,
mm_use_im_start_end, out_dim), LISA's slow tokenizer files (LLaMA's SentencePiece model, [SEG], <im_start>,
<im_end> in added_tokens.json, as transformers 4.31 saved them; no tokenizer.json), and one weight file
with the Llama backbone (model.embed_tokens, model.layers.*, model.norm, lm_head), model.mm_projector
(Linear), model.visual_model.* (a tiny SAM in the official key names) and model.text_hidden_fcs.0.{0,2}.
Weights are random except a planted answer: embedding channel 0 is +10 for every token but [SEG] (-10) and
lm_head reads only that channel, so the model answers "[SEG]" and then end-of-text, and yields one mask.
No vision tower keys: like the released files, CLIP comes from models/LLM/clip-vit-large-patch14, here a
tiny CLIPModel (text + vision) at 224 px / 14 px patches, so the image still expands to 256 tokens.
"""

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from . import atomic_path
from . import sam as tiny_sam
from ._weights import fill_state_dict, meta_shapes

NAME = "LISA-7B-v1"
CLIP_NAME = "clip-vit-large-patch14"
SEED = 7007
HIDDEN, VISION_HIDDEN = 64, 32
SAM_PROMPT_DIM = tiny_sam.TINY_SPEC["prompt_dim"]


def tokenizer_dir() -> Path:
    """ComfyUI's Llama-3 tokenizer (a fast tokenizer only, no SentencePiece model)."""
    from harness import host

    return host.comfy_dir() / "comfy" / "text_encoders" / "llama_tokenizer"


def sentencepiece_model() -> Path:
    """LLaMA's SentencePiece model (32000 pieces), as ComfyUI bundles it for Pile-T5."""
    from harness import host

    return host.comfy_dir() / "comfy" / "text_encoders" / "t5_pile_tokenizer" / "tokenizer.model"


_TOKEN = {"lstrip": False, "normalized": True, "rstrip": False, "single_word": False, "special": False}


def write_tokenizer(folder: Path, legacy: bool = True) -> None:
    """LISA's tokenizer files as transformers 4.31 saved them: tokenizer.model, LlamaTokenizer config (no
    fast tokenizer.json), special tokens, and [SEG], <im_start>, <im_end> in added_tokens.json."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(sentencepiece_model(), folder / "tokenizer.model")
    specials = {name: {"content": text, **_TOKEN} for name, text in
                (("bos_token", "<s>"), ("eos_token", "</s>"), ("unk_token", "<unk>"))}
    config = {"add_bos_token": True, "add_eos_token": False, "clean_up_tokenization_spaces": False,
              "legacy": legacy, "model_max_length": 512, "pad_token": None, "padding_side": "right",
              "sp_model_kwargs": {}, "tokenizer_class": "LlamaTokenizer",
              **{k: {"__type": "AddedToken", **v} for k, v in specials.items()}}
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    (folder / "special_tokens_map.json").write_text(json.dumps({**specials, "pad_token": "<unk>"}, indent=2))
    (folder / "added_tokens.json").write_text(json.dumps(ADDED))


def llama_config(vocab_size: int) -> dict:
    return {"hidden_size": HIDDEN, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 4, "vocab_size": vocab_size, "max_position_embeddings": 2048,
            "rms_norm_eps": 1e-6, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
            "tie_word_embeddings": False}


def lisa_shapes(vocab_size: int) -> dict:
    from transformers import LlamaConfig, LlamaForCausalLM

    with torch.device("meta"):
        lm = LlamaForCausalLM(LlamaConfig(**llama_config(vocab_size)))
    out = meta_shapes(lm)
    out.update({"model.mm_projector.weight": torch.Size([HIDDEN, VISION_HIDDEN]),
                "model.mm_projector.bias": torch.Size([HIDDEN]),
                "model.text_hidden_fcs.0.0.weight": torch.Size([HIDDEN, HIDDEN]),
                "model.text_hidden_fcs.0.0.bias": torch.Size([HIDDEN]),
                "model.text_hidden_fcs.0.2.weight": torch.Size([SAM_PROMPT_DIM, HIDDEN]),
                "model.text_hidden_fcs.0.2.bias": torch.Size([SAM_PROMPT_DIM])})
    return out


def plant_seg_answer(state: dict, seg_id: int, eos_id: int) -> None:
    """Channel 0 of the residual stream says 'the last token was not [SEG]': lm_head turns +/- into
    [SEG] / end-of-text, so greedy decoding writes exactly '[SEG]' then stops."""
    embed, head = state["model.embed_tokens.weight"], state["lm_head.weight"]
    embed[:, 0] = 10.0
    embed[seg_id, 0] = -10.0
    head.zero_()
    head[seg_id, 0] = 4.0
    head[eos_id, 0] = -4.0


def lisa_state_dict(vocab_size: int, seg_id: int, eos_id: int, seed: int = SEED) -> dict:
    state = fill_state_dict(lisa_shapes(vocab_size), seed, std=0.05, dtype=torch.float16)
    plant_seg_answer(state, seg_id, eos_id)
    sam = tiny_sam.state_dict(seed + 1)  # SAM keeps fp32 storages, as in the released mixed files
    state.update({"model.visual_model." + k: v for k, v in sam.items()})
    return state


def lisa_config(vocab_size: int) -> dict:
    return {"architectures": ["LISAForCausalLM"], "model_type": "llava", **llama_config(vocab_size),
            "torch_dtype": "bfloat16", "use_cache": False, "out_dim": SAM_PROMPT_DIM, "train_mask_decoder": True,
            "vision_tower": "openai/clip-vit-large-patch14", "mm_vision_tower": "openai/clip-vit-large-patch14",
            "mm_hidden_size": VISION_HIDDEN, "mm_vision_select_layer": -2, "mm_use_im_start_end": True,
            "mm_use_im_patch_token": False, "freeze_mm_mlp_adapter": False, "tune_mm_mlp_adapter": False,
            "transformers_version": "4.31.0"}


ADDED = {"[SEG]": 32000, "<im_start>": 32001, "<im_end>": 32002}  # after LLaMA's 32000 pieces
EOS_ID = 2


def write_lisa(folder: Path, seed: int) -> None:
    vocab_size = 32000 + len(ADDED)
    with atomic_path(folder) as tmp:
        write_tokenizer(tmp)
        (tmp / "config.json").write_text(json.dumps(lisa_config(vocab_size), indent=2))
        save_file(lisa_state_dict(vocab_size, ADDED["[SEG]"], EOS_ID, seed), str(tmp / "model.safetensors"),
                  metadata={"format": "pt"})


def write_clip(folder: Path) -> None:
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "vocab_size": 49408, "max_position_embeddings": 77,
                     "projection_dim": 32},
        vision_config={"hidden_size": VISION_HIDDEN, "intermediate_size": 64, "num_hidden_layers": 3,
                       "num_attention_heads": 2, "image_size": 224, "patch_size": 14, "projection_dim": 32},
        projection_dim=32)
    torch.manual_seed(SEED)
    model = CLIPModel(config).eval()
    with atomic_path(folder) as tmp:
        model.save_pretrained(str(tmp))
        (tmp / "preprocessor_config.json").write_text(json.dumps({
            "crop_size": 224, "do_center_crop": True, "do_normalize": True, "do_resize": True,
            "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
            "resample": 3, "size": 224, "feature_extractor_type": "CLIPFeatureExtractor"}))


def build(models_dir: Path, name: str = NAME, seed: int = SEED) -> str:
    """Writes models/LLM/<name> and models/LLM/clip-vit-large-patch14; returns the LISA folder name."""
    llm = Path(models_dir) / "LLM"
    if not (llm / CLIP_NAME / "config.json").is_file():
        write_clip(llm / CLIP_NAME)
    if (llm / name).is_dir() and not (llm / name / "tokenizer.model").is_file():
        shutil.rmtree(llm / name)  # an older tiny LISA with a fast tokenizer: rebuild it
    if not (llm / name / "model.safetensors").is_file():
        write_lisa(llm / name, seed)
    return name
