"""LISA (reasoning segmentation) from its released checkpoints: LLaVA + SAM ViT-H + the [SEG] head.

Checkpoint layout (xinlai/LISA-7B-v1, -explanatory, LISA-13B-llama2-v1, LISA++ Senqiao/LISA_Plus_7b):
LLaMA under model.* / lm_head, model.mm_projector (Linear 1024 -> H), model.visual_model.* (a standard SAM),
model.text_hidden_fcs.0.{0,2} (H -> H, ReLU, H -> 256). The CLIP-L/14-224 tower is not in the checkpoint.

Inference as LISA's chat.py/evaluate: llava_v1 prompt with <im_start><image><im_end>, greedy decoding,
then the last-layer (post-norm) hidden state of the token *before* each [SEG] (it predicts [SEG]) in the
image-expanded sequence -> text_hidden_fcs -> one sparse SAM prompt token -> single-mask decoder ->
postprocess -> logits (mask = logits > 0).
"""

import logging
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..mllm import weights
from ..mllm.backend import GenerationSettings
from ..mllm.decoding import DecodeHooks, eos_ids, run_generate
from ..mllm.image_tokens import splice_image_features
from ..mllm.legacy_llava import LegacyLlava, build_prompt, load_legacy_llava, tokenize_with_images
from ..mllm.vision_cache import FeatureCache
from .lisa_tokenizer import load_lisa_tokenizer
from .sam_cache import SAM_CACHE_IMAGES
from .sam_model import sam_from_state_dict
from .sam_predict import SamPredictor

log = logging.getLogger(__name__)

SEG_TOKEN = "[SEG]"
TEMPLATE = "llava_v1"  # chat.py uses it for every LISA model, 13B-llama2 included
SAM_PREFIX = "model.visual_model."
FCS_PREFIX = "model.text_hidden_fcs."
_REQUEST_SUFFIX = "Please output segmentation mask."
_EXPLAIN_SUFFIX = "Please output segmentation mask and explain why."


def lisa_question(query: str, explain: bool = False) -> str:
    """The user's query in LISA's trained question form ('{sentence} Please output segmentation mask.')."""
    query = " ".join(query.split())
    if not query:
        raise ValueError("the query is empty: describe what to segment, e.g. 'the object people sit on'")
    if "segmentation mask" in query.lower():
        return query
    if query[-1] not in ".?!":
        query += "."
    return f"{query} {_EXPLAIN_SUFFIX if explain else _REQUEST_SUFFIX}"


def seg_token_id(tokenizer) -> int:
    """The [SEG] id as the tokenizer encodes it (never hard-coded: it differs between checkpoints)."""
    ids = tokenizer(SEG_TOKEN, add_special_tokens=False).input_ids
    if len(ids) != 1:
        raise ValueError(f"the tokenizer has no single {SEG_TOKEN} token (it encodes to {ids}); this folder "
                         "is not a LISA checkpoint or its added_tokens.json is missing")
    return ids[0]


def seg_hidden_positions(input_ids: torch.Tensor, index_map: torch.Tensor, seg_id: int) -> torch.Tensor:
    """Positions, in the image-expanded sequence, of the hidden states LISA feeds to SAM: the position just
    before each [SEG] token (the one whose output predicts [SEG]). With one 256-feature image before the
    [SEG] this is LISA's ``ids[1:] == seg`` shifted by 255."""
    seg_positions = (input_ids == seg_id).nonzero().flatten()
    return index_map[seg_positions] - 1


def seg_mask_logits(predictor: SamPredictor, text_hidden_fcs: nn.ModuleList, image, ids: torch.Tensor,
                    index_map: torch.Tensor, hidden: torch.Tensor, seg_id: int) -> torch.Tensor:
    """LISA's mask path: the hidden state before each [SEG] -> text_hidden_fcs -> one sparse SAM prompt
    token each -> single-mask decoder -> logits [N, H, W] at the image's size."""
    positions = seg_hidden_positions(ids, index_map, seg_id)
    tokens = text_hidden_fcs[0](hidden[positions].to(next(text_hidden_fcs.parameters()).dtype))
    return predictor.masks_for_tokens(predictor.embed(image), tokens)


def text_hidden_fcs(hidden: int, out_dim: int = 256) -> nn.ModuleList:
    """LISA's [SEG] projection (Linear H->H, ReLU, Linear H->out, Dropout 0), freshly initialised."""
    return nn.ModuleList([nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                                        nn.Linear(hidden, out_dim), nn.Dropout(0.0))])


def build_text_hidden_fcs(state: dict) -> nn.ModuleList:
    """The [SEG] projection of a checkpoint, its sizes read from the weights, strictly loaded."""
    fcs = text_hidden_fcs(state["0.0.weight"].shape[1], state["0.2.weight"].shape[0])
    fcs.load_state_dict(state, strict=True)
    return fcs


class LisaModel(nn.Module):
    """One module (so one ModelPatcher moves all of it): LLaVA parts, SAM, [SEG] head."""

    def __init__(self, llava: LegacyLlava, visual_model: nn.Module, text_hidden_fcs: nn.ModuleList,
                 tokenizer, name: str, sam_spec=None):
        super().__init__()
        self.llava = llava
        self.visual_model = visual_model
        self.text_hidden_fcs = text_hidden_fcs
        self.tokenizer = tokenizer
        self.name = name
        self.sam_spec = sam_spec
        self.seg_id = seg_token_id(tokenizer)
        self.explanatory = "explanatory" in name.lower()
        self.sam_cache = FeatureCache(SAM_CACHE_IMAGES)
        self.decode_mode = "auto"  # decode_plan.MODES; Load LISA sets "compile" when compile is on

    @property
    def predictor(self) -> SamPredictor:
        return SamPredictor(self.visual_model, self.sam_cache, model_id=f"lisa:{self.name}")

    def prompt_ids(self, query: str) -> torch.Tensor:
        prompt = build_prompt(TEMPLATE, [lisa_question(query, self.explanatory)], has_image=True,
                              use_im_start_end=self.llava.spec.use_im_start_end)
        return torch.tensor(tokenize_with_images(self.tokenizer, prompt))

    def image_features(self, image) -> torch.Tensor:
        """CLIP branch: centre-cropped 224 view -> projected patch features [N, H]."""
        return self.llava.encode_images(self.llava.pixel_values([image]))[0]

    def generate_ids(self, embeds: torch.Tensor, settings: GenerationSettings, on_text=None,
                     should_stop=None) -> list[int]:
        """Greedy answer ids after the prompt embeds [T', H] (LISA's chat.py decodes greedily)."""
        lm = self.llava.language_model
        hooks = DecodeHooks(self.tokenizer, on_text, should_stop, [])
        greedy = replace(settings, temperature=0.0, no_repeat_ngram_size=0)
        run_generate(lm, self.tokenizer, greedy, hooks, eos_ids(lm, self.tokenizer), self.decode_mode,
                     inputs_embeds=embeds.unsqueeze(0),
                     attention_mask=torch.ones(1, embeds.shape[0], dtype=torch.long, device=embeds.device))
        return list(hooks.ids)

    def last_hidden_states(self, embeds: torch.Tensor) -> torch.Tensor:
        """Final-norm output of the language model over the whole sequence [T', H] (one full pass)."""
        decoder = self.llava.language_model.get_decoder()
        with torch.inference_mode():
            out = decoder(inputs_embeds=embeds.unsqueeze(0), use_cache=False)
        return out.last_hidden_state[0]

    def segment(self, image, query: str, settings: GenerationSettings | None = None, on_text=None,
                should_stop=None) -> "LisaResult":
        """image: PIL RGB. Returns the answer and one mask-logit map per [SEG] at the image's size."""
        settings = settings or GenerationSettings(max_new_tokens=512, temperature=0.0)
        device = self.llava.device
        prompt_ids = self.prompt_ids(query).to(device)
        embed_tokens = self.llava.language_model.get_input_embeddings()
        with torch.inference_mode():
            features = self.image_features(image)
            prompt_embeds, _ = splice_image_features(prompt_ids, embed_tokens, [features])
        new_ids = self.generate_ids(prompt_embeds, settings, on_text, should_stop)
        answer = self.tokenizer.decode(new_ids, skip_special_tokens=False)
        answer = answer.replace(self.tokenizer.eos_token or "</s>", "").strip()
        if should_stop is not None and should_stop():
            return LisaResult(answer, torch.zeros(0, image.height, image.width))
        full_ids = torch.cat([prompt_ids, torch.tensor(new_ids, dtype=prompt_ids.dtype, device=device)])
        if not (full_ids == self.seg_id).any():
            return LisaResult(answer, torch.zeros(0, image.height, image.width))
        with torch.inference_mode():
            embeds, index_map = splice_image_features(full_ids, embed_tokens, [features])
            hidden = self.last_hidden_states(embeds)
            logits = seg_mask_logits(self.predictor, self.text_hidden_fcs, image, full_ids, index_map, hidden,
                                     self.seg_id)
        return LisaResult(answer, logits)


@dataclass
class LisaResult:
    answer: str
    logits: torch.Tensor  # [N, H, W] float32 CPU; mask = logits > 0


def load_lisa(folder: str, vision_dir: str, dtype=torch.float32, sam_dtype=None) -> LisaModel:
    """Strictly load a LISA checkpoint folder plus the separate CLIP vision folder."""
    llava = load_legacy_llava(folder, dtype=dtype, vision_dir=vision_dir, image_mode="crop", template=TEMPLATE)
    extras = llava.extras
    llava.extras = {}
    sam_state = weights.split_prefix(extras, SAM_PREFIX)
    fcs_state = weights.split_prefix(extras, FCS_PREFIX)
    if not sam_state or not fcs_state:
        raise ValueError(f"{folder} is not a LISA checkpoint: it has no {SAM_PREFIX}* (SAM) or {FCS_PREFIX}* "
                         "([SEG] head) weights")
    if extras:
        raise ValueError(f"unexpected weights in {folder}: {sorted(extras)[:8]}")
    visual_model, spec = sam_from_state_dict(sam_state, sam_dtype or dtype)
    fcs = build_text_hidden_fcs({k: v.float() for k, v in fcs_state.items()}).to(dtype)
    if fcs[0][2].out_features != spec.prompt_dim:
        raise ValueError(f"[SEG] head gives {fcs[0][2].out_features}-d prompts but the SAM takes {spec.prompt_dim}")
    tokenizer = load_lisa_tokenizer(folder)
    model = LisaModel(llava, visual_model, fcs, tokenizer, llava.spec.name, spec).eval()
    log.info("LISA %s: SAM %s, [SEG] id %d", model.name, spec.variant, model.seg_id)
    return model
