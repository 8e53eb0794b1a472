"""Window planning for long prompts on 77-token CLIP text encoders (pure: no ComfyUI, no torch).

CLIP (SD1.x, SD2, SDXL) sees one window of ``BOS + 75 tokens + EOS`` at a time. This module decides
which tokens go into which window, and how the encoded windows are trimmed back together:

- ``sentence``: windows end at sentence boundaries (then clause, then word boundaries for a sentence
  longer than a window), so no phrase that fits in a window is split across two.
- ``llmga``: LLMGA's training layout: fixed 75-token strides, BOS/EOS re-inserted per window, and after
  encoding the inner BOS/EOS positions are dropped, giving ``75k + 2`` positions for k windows.

Token counting is passed in as a callable, so the node can count with the real tokenizer and tests can
count with anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

SENTENCE, CLAUSE, WORD = "sentence", "clause", "word"
LEVELS = (SENTENCE, CLAUSE, WORD)

# A boundary is punctuation followed by whitespace (or the end), so a split never falls inside a
# punctuation run or a number like "3.5": CLIP's tokenizer never merges across whitespace, so the
# pieces tokenize to exactly the tokens of the whole text.
_BOUNDARY = {
    SENTENCE: re.compile(r"(?:[.!?;]+[\"')\]]*\s+|[。！？；]+\s*|\n\s*)"),
    CLAUSE: re.compile(r"(?:[,:，：、]|\s[-–—]+)\s+"),
    WORD: re.compile(r"\s+"),
}
_OPEN, _CLOSE = "([{", ")]}"


def _nesting_depths(text: str) -> list[int]:
    """Bracket depth before each character; escaped brackets (``\\(``) are literal text."""
    depths, depth, escaped = [], 0, False
    for char in text:
        depths.append(depth)
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in _OPEN:
            depth += 1
        elif char in _CLOSE and depth > 0:
            depth -= 1
    return depths


def split_text(text: str, level: str) -> list[str]:
    """Split ``text`` into pieces ending at ``level`` boundaries; ``"".join(pieces) == text``.

    Never splits inside brackets, so an emphasis group ``(red hat:1.2)`` or a parenthetical remark
    stays whole."""
    depths = _nesting_depths(text)
    pieces, start = [], 0
    for match in _BOUNDARY[level].finditer(text):
        end = match.end()
        if end <= start or end >= len(text) or depths[match.start()] > 0:
            continue
        if text[start:end].strip():
            pieces.append(text[start:end])
            start = end
    if start < len(text):
        pieces.append(text[start:])
    return pieces


@dataclass
class TextWindow:
    """One encoder window: a character span of the prompt and how it was cut."""

    start: int
    end: int
    tokens: int = 0
    cut_at: str = SENTENCE  # finest boundary used to end or start this window

    def text(self, prompt: str) -> str:
        return prompt[self.start:self.end]


@dataclass
class SentencePlan:
    windows: list[TextWindow]
    dropped: list[TextWindow] = field(default_factory=list)


def pack_sentences(text: str, count_tokens: Callable[[str], int], capacity: int, max_windows: int) -> SentencePlan:
    """Pack ``text`` into windows of at most ``capacity`` tokens, cutting only at boundaries.

    A sentence that fits in a window is never split: it goes whole into the current window, or starts
    the next one. Only a sentence longer than a window is split, at clauses, then words (its pieces
    flow on from the current window). A single word longer than a window stays as one piece; the caller
    must hard-split it. Windows beyond ``max_windows`` are returned as ``dropped``."""
    if capacity < 1:
        raise ValueError(f"window capacity must be at least 1 token, got {capacity}")
    windows: list[TextWindow] = []

    def new_window(start: int, cut_at: str) -> TextWindow:
        window = TextWindow(start, start, 0, cut_at)
        windows.append(window)
        return window

    def place(start: int, piece: str, level_index: int) -> None:
        tokens = count_tokens(piece)
        current = windows[-1] if windows else new_window(start, SENTENCE)
        if tokens <= capacity - current.tokens or (current.tokens == 0 and level_index == len(LEVELS) - 1):
            current.end, current.tokens = start + len(piece), current.tokens + tokens
        elif tokens <= capacity:
            window = new_window(start, LEVELS[level_index])
            window.end, window.tokens = start + len(piece), tokens
        elif level_index + 1 < len(LEVELS):
            offset = start
            for sub in split_text(piece, LEVELS[level_index + 1]):
                place(offset, sub, level_index + 1)
                offset += len(sub)
        else:  # one word longer than a window: its own window, hard-split by the caller
            window = new_window(start, WORD)
            window.end, window.tokens = start + len(piece), tokens

    offset = 0
    for sentence in split_text(text, SENTENCE):
        place(offset, sentence, 0)
        offset += len(sentence)
    if not windows:
        windows.append(TextWindow(0, len(text), 0))
    windows[-1].end = len(text)  # trailing whitespace belongs to the last window
    return SentencePlan(windows[:max_windows], windows[max_windows:])


@dataclass(frozen=True)
class LlmgaPlan:
    """LLMGA's chunking of ``total`` content tokens into ``chunks`` windows of ``stride`` tokens."""

    total: int
    stride: int
    chunks: int

    @property
    def kept(self) -> int:
        return min(self.total, self.stride * self.chunks)

    @property
    def dropped(self) -> int:
        return self.total - self.kept

    @property
    def positions(self) -> int:
        """Sequence length after trimming: BOS + chunks*stride + EOS (75k + 2 for CLIP)."""
        return self.stride * self.chunks + 2

    def spans(self) -> list[tuple[int, int]]:
        """Content-token span [start, end) of each window (the last one may be short: padded)."""
        return [(i * self.stride, min((i + 1) * self.stride, self.kept)) for i in range(self.chunks)]

    def keep_slices(self) -> list[tuple[int, int]]:
        """Positions kept from each encoded ``stride + 2`` window: the first keeps its BOS, the last its
        EOS, inner BOS/EOS positions are dropped."""
        width = self.stride + 2
        if self.chunks == 1:
            return [(0, width)]
        return [(0 if i == 0 else 1, width if i == self.chunks - 1 else width - 1) for i in range(self.chunks)]


def plan_llmga(total_tokens: int, max_chunks: int, stride: int = 75) -> LlmgaPlan:
    """k = clamp(ceil(n / 75), 1, max_chunks), as LLMGA's ``get_text_index`` (which used max 4)."""
    if max_chunks < 1:
        raise ValueError(f"max_chunks must be at least 1, got {max_chunks}")
    chunks = max(1, min(max_chunks, math.ceil(total_tokens / stride)))
    return LlmgaPlan(total_tokens, stride, chunks)


def llmga_window(content: Sequence, start, end, pad, length: int) -> list:
    """LLMGA's window layout ``[BOS] + content + [PAD]* + [EOS]``: the EOS closes the full window, so
    an encoder that pads with a non-EOS token (SDXL's clip_g pads with 0) sees EOS only at the end."""
    body = list(content)
    if len(body) > length - 2:
        raise ValueError(f"{len(body)} tokens do not fit a {length}-token window")
    return [start] + body + [pad] * (length - 2 - len(body)) + [end]


def clip_window(content: Sequence, start, end, pad, length: int) -> list:
    """ComfyUI's window layout ``[BOS] + content + [EOS] + [PAD]*`` (what core CLIPTextEncode builds)."""
    body = list(content)
    if len(body) > length - 2:
        raise ValueError(f"{len(body)} tokens do not fit a {length}-token window")
    return [start] + body + [end] + [pad] * (length - 2 - len(body))


def hard_split(items: Sequence, size: int) -> list[list]:
    """Consecutive pieces of at most ``size`` items (at least one piece, possibly empty)."""
    return [list(items[i:i + size]) for i in range(0, len(items), size)] or [[]]


def preview(text: str, limit: int = 60) -> str:
    """A one-line quote of ``text`` for the report, shortened in the middle."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return f'"{flat}"'
    half = (limit - 3) // 2
    return f'"{flat[:half]} … {flat[-half:]}"'


def bpe_to_text(pieces: Sequence[str]) -> str:
    """Join CLIP BPE pieces (``photo</w>``) back into readable text for the report."""
    text = "".join(pieces).replace("</w>", " ").strip()
    return re.sub(r" ([,.!?;:])", r"\1", text)
