"""Boxes written in a family's own grounding syntax rather than the JSON we ask for:

    <locYYYY> tokens  PaliGemma / Gemma: four tokens y0 x0 y1 x1, each 0..1023 of the image height/width,
                      optionally followed by a label; several detections are separated by ';'
    <box>[[...]]</box> InternVL: x0, y0, x1, y1 in 0..1000, after an optional <ref>label</ref>; several
                      boxes may share one tag. Decoders that drop special tokens leave the bare [[...]].

Each reader returns (label, [x0, y0, x1, y1]) in the family's own frame, or nothing when the text has none.
"""

import re

LOC_RANGE = 1024.0  # <locYYYY> divides the image into 1024 bins
INTERNVL_RANGE = 1000.0

_NUMBER = r"-?\d+(?:\.\d+)?"
_LOC_GROUP = re.compile(r"((?:<loc\d{4}>\s*){4})([^<;]*)")
_LOC = re.compile(r"<loc(\d{4})>")
_QUAD_TEXT = rf"\[\s*{_NUMBER}\s*,\s*{_NUMBER}\s*,\s*{_NUMBER}\s*,\s*{_NUMBER}\s*\]"
_QUAD = re.compile(rf"\[\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\]")
_GROUP = re.compile(rf"\[\s*{_QUAD_TEXT}(?:\s*,\s*{_QUAD_TEXT})*\s*\]")  # [[x0,y0,x1,y1], ...]
_TAGGED = re.compile(r"(?:<ref>(.*?)</ref>\s*)?<box>(.*?)</box>", re.S)


def has_loc_tokens(text: str) -> bool:
    return _LOC.search(text) is not None


def has_box_tags(text: str) -> bool:
    return "<box>" in text


def loc_token_boxes(text: str) -> list[tuple[str, list[float]]]:
    found = []
    for tokens, label in _LOC_GROUP.findall(text):
        y0, x0, y1, x1 = (float(v) for v in _LOC.findall(tokens))
        found.append((label.strip(), [x0, y0, x1, y1]))
    return found


def internvl_boxes(text: str) -> list[tuple[str, list[float]]]:
    """Tagged boxes when the answer has <box> tags, else bare [[x0, y0, x1, y1], ...] groups (a JSON
    answer's single-bracketed [x1, y1, x2, y2] lists are not such groups)."""
    if has_box_tags(text):
        groups = _TAGGED.findall(text)
    else:
        groups, start = [], 0
        for match in _GROUP.finditer(text):
            label = text[start:match.start()].splitlines()[-1:] or [""]
            groups.append((label[0], match.group(0)))
            start = match.end()
    return [(_clean_label(label), [float(v) for v in quad]) for label, group in groups
            for quad in _QUAD.findall(group)]


def _clean_label(label: str) -> str:
    return re.sub(r"</?ref>", "", label or "").strip(" :,.;\n")
