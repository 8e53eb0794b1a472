"""One decoding loop for every local backend: transformers' generate plus our hooks.

Adds to ``model.generate``: text streamed as it grows, a stop hook checked after every token (ComfyUI's
cancel), stop strings of legacy templates, and a seed scoped to the call (global RNG state is restored).
"""

import contextlib
import logging
from collections.abc import Callable

import torch

from .backend import GenerationSettings
from .decode_plan import decode_path, log_plan, mark_failed
from .static_decode import path_kwargs

log = logging.getLogger(__name__)


@contextlib.contextmanager
def scoped_seed(seed: int, device: torch.device):
    """Seed torch's RNGs for the block only (CPU, and the model's CUDA device when there is one)."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed % (2**63))
        yield


class DecodeHooks:
    """Both the streamer (put/end) and a stopping criterion (__call__) of transformers' generate.

    Text grows incrementally: each token decodes only a short window (the ids since the last emitted
    piece plus the piece before it, for the tokenizer's spacing), and a piece ending in an incomplete
    UTF-8 character waits for the next token. At the end the whole answer is decoded once, so the last
    text handed out is exactly the tokenizer's."""

    def __init__(self, tokenizer, on_text, should_stop, stop_strings):
        self.tokenizer = tokenizer
        self.on_text = on_text
        self.should_stop = should_stop
        self.stop_strings = [s for s in stop_strings if s]
        self.longest_stop = max((len(s) for s in self.stop_strings), default=0)
        self.reset()

    def reset(self) -> None:
        self.ids: list[int] = []
        self.text = ""
        self.prompt_seen = False
        self.stopped_by_request = False
        self.stop_seen = False
        self.prefix_offset = 0  # ids[prefix_offset:read_offset] is the context piece re-decoded with new ids
        self.read_offset = 0  # ids before it are in self.text
        self.callback_error: Exception | None = None

    def _callback(self, callback, *args):
        """Run the caller's callback; what it raises is marked as the caller's, so no decoding path is blamed."""
        try:
            return callback(*args)
        except Exception as error:
            self.callback_error = error
            raise

    def _decode(self, ids) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    # streamer protocol -------------------------------------------------------
    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate first hands over the prompt ids (empty with inputs_embeds)
            self.prompt_seen = True
            return
        self.ids.extend(int(t) for t in value.flatten().tolist())
        if self.on_text is None and not self.stop_strings:
            return  # nobody reads the text while it grows: end() decodes it once
        context = self._decode(self.ids[self.prefix_offset:self.read_offset])
        window = self._decode(self.ids[self.prefix_offset:])
        if len(window) > len(context) and not window.endswith("\ufffd"):
            self._grow(window[len(context):])
            self.prefix_offset, self.read_offset = self.read_offset, len(self.ids)

    def end(self) -> None:
        whole = self._decode(self.ids)
        if whole != self.text:
            self.text = ""
            self._grow(whole)

    def _grow(self, piece: str) -> None:
        self.text += piece
        if self.stop_strings:  # only the new piece (and a stop string's length before it) can hold a new stop
            tail = self.text[-(len(piece) + self.longest_stop):]
            self.stop_seen = self.stop_seen or any(s in tail for s in self.stop_strings)
        if self.on_text:
            self._callback(self.on_text, cut_at_stop(self.text, self.stop_strings))

    # stopping-criteria protocol ------------------------------------------------
    def __call__(self, input_ids, scores=None, **kwargs):
        stop = False
        if self.should_stop is not None and self._callback(self.should_stop):
            self.stopped_by_request = stop = True
        elif self.stop_seen:
            stop = True
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


def cut_at_stop(text: str, stop_strings) -> str:
    for stop in stop_strings:
        if stop and stop in text:
            text = text[:text.index(stop)]
    return text


def eos_ids(model, tokenizer, extra_tokens=()) -> list[int]:
    """EOS ids from the generation config and tokenizer, plus template end tokens that exist as tokens."""
    ids: list[int] = []
    for source in (getattr(getattr(model, "generation_config", None), "eos_token_id", None),
                   tokenizer.eos_token_id):
        ids.extend(source if isinstance(source, list) else [source] if source is not None else [])
    vocab = tokenizer.get_vocab()
    ids.extend(vocab[t] for t in extra_tokens if t in vocab)
    return sorted(set(ids))


class PromptNGramBlock:
    """transformers' no-repeat-n-gram rule over prompt + answer when generate only sees the answer's ids
    (inputs_embeds): the original LLaVA code passed the prompt ids too, so prompt n-grams were banned."""

    def __init__(self, prompt_ids: list[int], size: int):
        from transformers import NoRepeatNGramLogitsProcessor

        self.prompt = torch.tensor([i for i in prompt_ids if i >= 0], dtype=torch.long)  # no image placeholders
        self.rule = NoRepeatNGramLogitsProcessor(size)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        prompt = self.prompt.to(input_ids.device).expand(input_ids.shape[0], -1)
        return self.rule(torch.cat([prompt, input_ids], dim=-1), scores)


def ngram_kwargs(settings: GenerationSettings, model_inputs: dict, prompt_ids=None) -> dict:
    """generate() kwargs that apply settings.no_repeat_ngram_size to the prompt and the answer."""
    from transformers import LogitsProcessorList

    size = int(settings.no_repeat_ngram_size or 0)
    if size <= 0:
        return {}
    if "input_ids" in model_inputs:  # generate sees the prompt ids itself
        return {"no_repeat_ngram_size": size}
    if prompt_ids is None:
        raise ValueError("no_repeat_ngram_size with inputs_embeds needs the prompt ids")
    return {"logits_processor": LogitsProcessorList([PromptNGramBlock(list(prompt_ids), size)])}


def generate_kwargs(model, tokenizer, settings: GenerationSettings, hooks: DecodeHooks, eos: list[int],
                    model_inputs: dict, prompt_ids=None) -> dict:
    """The generate() arguments every local backend uses (LISA included): the path-independent part."""
    from transformers import StoppingCriteriaList

    sampling = settings.temperature > 0
    kwargs = dict(max_new_tokens=int(settings.max_new_tokens), do_sample=sampling, num_beams=1,
                  streamer=hooks, stopping_criteria=StoppingCriteriaList([hooks]),
                  eos_token_id=eos or None, pad_token_id=(tokenizer.pad_token_id if tokenizer.pad_token_id
                                                          is not None else (eos[0] if eos else 0)))
    if sampling:
        kwargs.update(temperature=float(settings.temperature), top_p=float(settings.top_p), top_k=0)
    else:  # keep the model's sampling defaults from warning about unused settings
        kwargs.update(temperature=None, top_p=None, top_k=None)
    kwargs.update(ngram_kwargs(settings, model_inputs, prompt_ids))
    return kwargs


def prompt_length(model_inputs: dict) -> int:
    source = model_inputs.get("input_ids", model_inputs.get("inputs_embeds"))
    return int(source.shape[1]) if source is not None else 0


def run_generate(model, tokenizer, settings: GenerationSettings, hooks: DecodeHooks, eos: list[int],
                 decode_mode: str = "auto", prompt_ids=None, **model_inputs) -> torch.Tensor:
    """model.generate on the path decode_plan picks. A path that raises is remembered for the model (logged)
    and the call redone on the next one (graphs -> compiled -> eager); an error of the eager path, an OOM and
    an error raised by the caller's own hooks (cancel, live text) propagate. Returns generate's output ids."""
    device = next(model.parameters()).device
    kwargs = generate_kwargs(model, tokenizer, settings, hooks, eos, model_inputs, prompt_ids)
    while True:
        plan = decode_path(model, device, prompt_length(model_inputs), int(settings.max_new_tokens), decode_mode)
        log_plan(model, plan)
        try:
            with torch.inference_mode(), scoped_seed(settings.seed, device), \
                    path_kwargs(model, plan, device) as extra:
                return model.generate(**model_inputs, **kwargs, **extra)
        except torch.OutOfMemoryError:
            raise  # not a failure of the path: nodes/_oom.py frees memory and says what to change
        except Exception as error:
            if not plan.static or error is hooks.callback_error:
                raise
            mark_failed(model, plan, error)
            log.warning("GenAssist: the %s decoding path failed (%s: %s); %s no longer uses it", plan.path,
                        type(error).__name__, error, type(model).__name__)
        hooks.reset()


def generate_text(model, tokenizer, settings: GenerationSettings,
                  on_text: Callable[[str], None] | None = None,
                  should_stop: Callable[[], bool] | None = None,
                  stop_strings=(), extra_eos_tokens=(), prompt_ids=None, decode_mode: str = "auto",
                  **model_inputs) -> str:
    """Run model.generate on model_inputs (input_ids or inputs_embeds, batch 1) and return the answer.
    prompt_ids: the prompt's token ids when only inputs_embeds are given (for no_repeat_ngram_size).
    decode_mode: 'auto' or a forced path (decode_plan.MODES)."""
    hooks = DecodeHooks(tokenizer, on_text, should_stop, stop_strings)
    eos = eos_ids(model, tokenizer, extra_eos_tokens)
    run_generate(model, tokenizer, settings, hooks, eos, decode_mode, prompt_ids, **model_inputs)
    if hooks.stopped_by_request:
        return hooks.text
    if hit_token_limit(hooks, eos, settings.max_new_tokens):
        log.warning("GenAssist: the answer hit max_new_tokens = %d (no end-of-answer token): raise "
                    "max_new_tokens if it looks cut short", settings.max_new_tokens)
    return cut_at_stop(hooks.text, stop_strings).strip()  # end() decoded the new ids once


def hit_token_limit(hooks: DecodeHooks, eos: list[int], max_new_tokens: int) -> bool:
    """True when decoding ran out of tokens: as many as allowed, the last one no end token, no stop string."""
    if len(hooks.ids) < max_new_tokens or (hooks.ids and hooks.ids[-1] in eos):
        return False
    return not hooks.stop_seen
