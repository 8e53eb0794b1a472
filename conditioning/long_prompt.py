"""Long-prompt CLIP encoding (150-300-token MLLM prompts) on windows planned by ``token_windows``.

Uses only the public methods of ComfyUI's CLIP object, duck-typed: ``clip.tokenize`` to get the exact
tokens core would use, then ``clip.encode_from_tokens_scheduled`` on windows laid out here. Nothing in
ComfyUI is imported or patched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import token_windows as pw

STRATEGIES = ("sentence", "llmga", "native")
POOLED_CHOICES = ("auto", "first window", "last window")
# Token keys of ComfyUI's 77-window CLIP tokenizers: SD1.x "l", SD2 "h", SDXL "g"+"l" (refiner "g").
CLIP_KEYS = frozenset({"l", "g", "h"})
SIZE_KEYS = ("width", "height", "crop_w", "crop_h", "target_width", "target_height")


@dataclass(frozen=True)
class WindowLayout:
    """How one CLIP tokenizer frames a window: its special tokens and window length."""

    start: tuple
    end: tuple
    pad: tuple
    length: int

    @property
    def capacity(self) -> int:
        return self.length - 2


def probe_layouts(clip) -> tuple[dict[str, WindowLayout] | None, str]:
    """Per-key window layouts of a 77-window CLIP encoder, or (None, why not) for any other encoder."""
    empty = clip.tokenize("")
    keys = sorted(empty)
    if not keys or not set(keys) <= CLIP_KEYS:
        return None, f"text encoder with token streams {keys} is not a 77-token-window CLIP encoder"
    layouts = {}
    for key in keys:
        windows = empty[key]
        if len(windows) != 1 or len(windows[0]) < 3:
            return None, f"token stream {key!r} is not padded into fixed windows"
        row = windows[0]
        start, end, pad = ((row[i][0], 1.0) for i in range(3))
        layouts[key] = WindowLayout(start, end, pad, len(row))
    if len({lay.length for lay in layouts.values()}) != 1:
        return None, "the encoders of this CLIP use different window lengths"
    return layouts, ""


def content_tokens(clip, text: str, weighting: bool) -> dict[str, list[tuple]]:
    """The prompt's tokens per key, exactly as core tokenizes them, without BOS/EOS/padding."""
    tokens = clip.tokenize(text, return_word_ids=True, disable_weights=not weighting)
    # word id 0 marks the tokens the tokenizer adds (BOS, EOS, padding); content has ids >= 1
    return {key: [(t, w) for window in rows for t, w, word in window if word != 0]
            for key, rows in tokens.items()}


class TokenCounter:
    """Counts a text's content tokens with the real tokenizer (cached: packing asks repeatedly)."""

    def __init__(self, clip, key: str, weighting: bool):
        self.clip, self.key, self.weighting, self.cache = clip, key, weighting, {}

    def __call__(self, text: str) -> int:
        if text not in self.cache:
            self.cache[text] = len(content_tokens(self.clip, text, self.weighting)[self.key])
        return self.cache[text]


def token_text(clip, pairs: list[tuple]) -> str:
    """Readable text of content tokens, for the report."""
    vocab = getattr(getattr(clip, "tokenizer", None), "clip_l", None) or getattr(
        getattr(clip, "tokenizer", None), "clip_g", None)
    inv = getattr(vocab, "inv_vocab", None)
    if not inv:
        return f"{len(pairs)} tokens"
    return pw.bpe_to_text([inv.get(t, "<embedding> ") if isinstance(t, int) else "<embedding> " for t, _ in pairs])


def encode_windows(clip, rows: dict[str, list[list]], pooled_from: int, add_dict: dict) -> list:
    """Encode pre-built windows in one batch; the pooled vector is taken from window ``pooled_from``.

    Core takes pooled from the first row, so that window is encoded first and the others follow; the
    conditioning is put back in prompt order afterwards."""
    count = len(next(iter(rows.values())))
    order = [pooled_from] + [i for i in range(count) if i != pooled_from]
    tokens = {key: [windows[i] for i in order] for key, windows in rows.items()}
    encoded = clip.encode_from_tokens_scheduled(tokens, add_dict=add_dict)
    if order == sorted(order):
        return encoded
    out = []
    for cond, extras in encoded:
        width = cond.shape[1] // count
        parts = [None] * count
        for position, window in enumerate(order):
            parts[window] = cond[:, position * width:(position + 1) * width]
        out.append([torch.cat(parts, dim=1), extras])
    return out


def trim_llmga(encoded: list, plan: pw.LlmgaPlan) -> list:
    """Drop the inner BOS/EOS positions: k windows of 77 become 75k + 2 positions."""
    width = plan.stride + 2
    out = []
    for cond, extras in encoded:
        parts = [cond[:, i * width + a:i * width + b] for i, (a, b) in enumerate(plan.keep_slices())]
        out.append([torch.cat(parts, dim=1), extras])
    return out


def encode_long_prompt(clip, text: str, strategy: str, max_chunks: int, pooled_output: str, weighting: bool,
                       sizes: tuple = (0, 0, 0, 0, 0, 0)) -> tuple[list, str]:
    """(conditioning, report) of ``text`` with ``strategy``; ``sizes`` is SDXL's (width, height, crop_w,
    crop_h, target_width, target_height), all 0 when unused."""
    notes: list[str] = []
    layouts, why_not = probe_layouts(clip)
    add_dict = size_conditioning(layouts, sizes, notes)

    if layouts is None or strategy == "native":
        if layouts is None and strategy != "native":
            notes.append(f"{why_not}: encoded natively (core CLIPTextEncode), no windowing needed.")
        if pooled_output == "last window":
            notes.append("pooled output: native keeps core's choice (first window).")
        tokens = clip.tokenize(text)
        report = native_report(clip, text, tokens, layouts, notes)
        return clip.encode_from_tokens_scheduled(tokens, add_dict=add_dict), report

    if strategy == "llmga":
        return encode_llmga(clip, text, layouts, max_chunks, pooled_output, weighting, add_dict, notes)
    return encode_sentences(clip, text, layouts, max_chunks, pooled_output, weighting, add_dict, notes)


def size_conditioning(layouts, values, notes: list[str]) -> dict:
    width, height, crop_w, crop_h, target_width, target_height = values
    if not (width and height):
        return {}
    if layouts is None or "g" not in layouts or "l" not in layouts:
        notes.append("size conditioning ignored: only SDXL (clip_g + clip_l) uses it.")
        return {}
    return dict(zip(SIZE_KEYS, (width, height, crop_w, crop_h, target_width or width, target_height or height)))


def pooled_index(choice: str, strategy: str, windows: int) -> int:
    last = choice == "last window" or (choice == "auto" and strategy == "llmga")
    return windows - 1 if last else 0


def encode_llmga(clip, text, layouts, max_chunks, pooled_choice, weighting, add_dict, notes):
    streams = content_tokens(clip, text, weighting)
    lengths = {len(s) for s in streams.values()}
    if len(lengths) != 1:
        raise RuntimeError(f"GenAssist_LongPromptEncode: the encoders of this CLIP tokenized the prompt to "
                           f"different lengths {sorted(lengths)} (an embedding missing for one of them?). "
                           f"Use strategy 'native'.")
    any_layout = next(iter(layouts.values()))
    plan = pw.plan_llmga(lengths.pop(), max_chunks, any_layout.capacity)
    rows = {key: [pw.llmga_window(streams[key][a:b], lay.start, lay.end, lay.pad, lay.length)
                  for a, b in plan.spans()] for key, lay in layouts.items()}
    pooled = pooled_index(pooled_choice, "llmga", plan.chunks)
    encoded = trim_llmga(encode_windows(clip, rows, pooled, add_dict), plan)

    first = streams[sorted(streams)[-1]]  # "l" when present
    lines = [f"strategy: llmga · encoders: {'+'.join(sorted(layouts))} · weighting: {'on' if weighting else 'off'}",
             f"tokens: {plan.total} in prompt, {plan.kept} encoded · windows: {plan.chunks} of max "
             f"{max_chunks} · sequence: {plan.positions} positions ({plan.stride}k+2, k={plan.chunks})"]
    for i, (a, b) in enumerate(plan.spans()):
        lines.append(f"window {i + 1}: tokens {a + 1}-{b} {pw.preview(token_text(clip, first[a:b]))}")
    lines.append(f"pooled output: window {pooled + 1}")
    if plan.dropped:
        lines.append(f"dropped: tokens {plan.kept + 1}-{plan.total} ({plan.dropped} tokens, beyond max_chunks="
                     f"{max_chunks}): {pw.preview(token_text(clip, first[plan.kept:]), 120)}")
    else:
        lines.append("dropped: nothing")
    return encoded, "\n".join(lines + notes)


def encode_sentences(clip, text, layouts, max_chunks, pooled_choice, weighting, add_dict, notes):
    key = sorted(layouts)[-1]  # "l" when present; every key shares the vocabulary
    capacity = layouts[key].capacity
    count = TokenCounter(clip, key, weighting)
    plan = pw.pack_sentences(text, count, capacity, max_windows=10**6)

    pieces = []  # (window, content per key), a planned window split further only for an overlong word
    for window in plan.windows:
        streams = content_tokens(clip, window.text(text), weighting)
        split = {k: pw.hard_split(s, capacity) for k, s in streams.items()}
        if len({len(v) for v in split.values()}) != 1:
            raise RuntimeError("GenAssist_LongPromptEncode: the encoders of this CLIP tokenized a window to "
                               "different lengths (an embedding missing for one of them?). Use strategy 'native'.")
        for part in range(len(next(iter(split.values())))):
            pieces.append((window, {k: v[part] for k, v in split.items()}, part > 0))
    kept, dropped = pieces[:max_chunks], pieces[max_chunks:]

    rows = {k: [pw.clip_window(content[k], lay.start, lay.end, lay.pad, lay.length) for _, content, _ in kept]
            for k, lay in layouts.items()}
    pooled = pooled_index(pooled_choice, "sentence", len(kept))
    encoded = encode_windows(clip, rows, pooled, add_dict)

    used = sum(len(content[key]) for _, content, _ in kept)
    lost = sum(len(content[key]) for _, content, _ in dropped)
    lines = [f"strategy: sentence · encoders: {'+'.join(sorted(layouts))} · weighting: {'on' if weighting else 'off'}",
             f"tokens: {used} encoded, {lost} dropped · windows: {len(kept)} of max {max_chunks} · "
             f"sequence: {len(kept) * layouts[key].length} positions"]
    for i, (window, content, is_split) in enumerate(kept):
        cut = "word split (one word longer than a window)" if is_split else f"starts at a {window.cut_at} boundary"
        lines.append(f"window {i + 1}: {len(content[key])} tokens, {cut}: {pw.preview(window.text(text))}")
    lines.append(f"pooled output: window {pooled + 1}")
    if dropped:
        first_lost = dropped[0][0]
        lines.append(f"dropped: {len(dropped)} window(s), {lost} tokens beyond max_chunks={max_chunks}: "
                     f"{pw.preview(text[first_lost.start:], 120)}")
    else:
        lines.append("dropped: nothing")
    return encoded, "\n".join(lines + notes)


def native_report(clip, text: str, tokens: dict, layouts, notes: list[str]) -> str:
    lines = [f"strategy: native (core CLIPTextEncode) · token streams: {'+'.join(sorted(tokens))}"]
    if layouts is not None:
        counted = clip.tokenize(text, return_word_ids=True)
        for key in sorted(counted):
            sizes = [sum(1 for *_, word in row if word != 0) for row in counted[key]]
            lines.append(f"{key}: {len(sizes)} window(s) of {layouts[key].length}, content tokens per window {sizes}")
    else:
        lines.extend(f"{key}: {sum(len(row) for row in rows)} tokens" for key, rows in sorted(tokens.items()))
    lines.append("dropped: nothing (core encodes every window)")
    return "\n".join(lines + notes)
