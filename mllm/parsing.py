"""Turn an MLLM's answer into a clean prompt: LLMGA's <gen_image> tags, <think> blocks, code fences.

LLMGA (serve/cli-*.py) takes the caption between ``<gen_image>`` and ``</gen_image>``:
neither tag → the whole answer; only the end tag → the text before it; only the start tag → the text
after it; both → the text between. Only an answer with the start tag is an image request. LLMGA then
skips a fixed 12 characters (tag + the space its training data puts after it); we skip the tag and any
whitespace, which is the same on trained answers and keeps the first word when a model omits the space.
"""

import re
from dataclasses import dataclass

START_TAG, END_TAG = "<gen_image>", "</gen_image>"
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.DOTALL)
_SPECIAL = re.compile(r"</s>|<s>|<\|im_end\|>|<\|eot_id\|>|<\|end\|>|<end_of_turn>|<eos>|<\|endoftext\|>")
_LABEL = re.compile(r"^(?:\*\*)?(?:final\s+)?(?:prompt|caption|description|answer)\s*(?::\s*\*\*|\*\*\s*:|:)\s*",
                    re.IGNORECASE)
_REFUSAL = re.compile(r"^(?:i'?m sorry|i am sorry|sorry,|i cannot|i can'?t|i can not|i won'?t|i will not|"
                      r"i'?m (?:not able|unable)|i am (?:not able|unable)|as an ai\b|unfortunately,? i)",
                      re.IGNORECASE)


class AnswerError(ValueError):
    """The model's answer holds no usable prompt (message says why and what to try)."""


@dataclass
class ParsedAnswer:
    prompt: str  # the cleaned generation prompt
    requested_image: bool  # LLMGA semantics: the start tag was present
    thinking: str  # text of <think> blocks, if any
    raw: str


def split_thinking(text: str) -> tuple[str, str]:
    """(visible text, thinking). An unclosed <think> at the start means the answer is all thinking
    unless a </think> closes it; a lone </think> (templates that open the block themselves) ends it."""
    thoughts = [m.group(0)[7:-8] for m in _THINK.finditer(text)]
    visible = _THINK.sub(" ", text)
    if "</think>" in visible.lower():
        cut = visible.lower().rindex("</think>")
        thoughts.append(visible[:cut].replace("<think>", ""))
        visible = visible[cut + len("</think>"):]
    elif visible.lstrip().lower().startswith("<think>"):
        thoughts.append(visible.lstrip()[7:])
        visible = ""
    return visible, "\n".join(t.strip() for t in thoughts if t.strip())


def strip_code_fences(text: str) -> str:
    """The content of the first fenced block when the answer is wrapped in one; else text unchanged."""
    match = _FENCE.search(text)
    if match and (START_TAG in match.group(1) or not _FENCE.sub("", text).strip()
                  or START_TAG not in text):
        return match.group(1)
    return text.replace("```", "")


def clean_prompt(text: str) -> str:
    """Collapse whitespace, drop stray tags/special tokens, labels and wrapping quotes."""
    text = _SPECIAL.sub(" ", text).replace(START_TAG, " ").replace(END_TAG, " ")
    text = " ".join(text.split())
    text = _LABEL.sub("", text).strip()
    while len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        text = text[1:-1].strip()
    if len(text) >= 2 and text[0] in "“‘" and text[-1] in "”’":
        text = text[1:-1].strip()
    return text


def llmga_span(text: str) -> tuple[str, bool]:
    """LLMGA's tag rule on raw text -> (caption, start tag present)."""
    start, end = text.find(START_TAG), text.find(END_TAG)
    if start != -1 and end != -1 and end < start:  # a stray end tag before the real start
        end = text.find(END_TAG, start)
    if start == -1 and end == -1:
        return text, False
    if start == -1:
        return text[:end], False
    body = text[start + len(START_TAG):]
    if end != -1:
        body = text[start + len(START_TAG):end]
    return body, True


def parse_generation_answer(text: str) -> ParsedAnswer:
    raw = text or ""
    visible, thinking = split_thinking(raw)
    visible = strip_code_fences(visible)
    caption, requested = llmga_span(visible)
    prompt = clean_prompt(caption)
    if not prompt:
        hint = " (it only thought, then stopped: raise max_new_tokens)" if thinking else ""
        raise AnswerError(f"the model's answer has no prompt text{hint}. Answer was: {raw[:200]!r}")
    if not requested and _REFUSAL.match(prompt):
        raise AnswerError(f"the model refused instead of writing a prompt: {prompt[:200]!r}. Rephrase the "
                          "request, or use another model")
    return ParsedAnswer(prompt=prompt, requested_image=requested, thinking=thinking, raw=raw)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def mgie_clean(text: str) -> str:
    """MGIE's clean-up of an expressive instruction: cut after 'ASSISTANT:', at '</s>', at 'alternative'
    (at the start of its sentence) and at '[IMG0]', keep the first two sentences, end with a period."""
    visible, _ = split_thinking(text or "")
    visible = strip_code_fences(visible)
    if "ASSISTANT:" in visible:
        visible = visible[visible.index("ASSISTANT:") + len("ASSISTANT:"):]
    for marker in ("</s>", "[IMG0]"):
        if marker in visible:
            visible = visible[:visible.index(marker)]
    low = visible.lower()
    if "alternative" in low:  # MGIE cuts there; we drop the whole sentence that offers the alternative
        cut = low.index("alternative")
        boundary = max(visible.rfind(p, 0, cut) for p in ".!?")
        visible = visible[:boundary + 1] if boundary != -1 else visible[:cut]
    visible = clean_prompt(visible)
    sentences = [s.strip() for s in _SENTENCE_END.split(visible) if s.strip()]
    result = " ".join(sentences[:2]).strip()
    if not result:
        raise AnswerError(f"the model gave no expressive instruction. Answer was: {(text or '')[:200]!r}")
    if _REFUSAL.match(result):
        raise AnswerError(f"the model refused instead of describing the edit: {result[:200]!r}")
    if not result.endswith("."):
        result = result.rstrip("!?,;: ") + "."
    return result
