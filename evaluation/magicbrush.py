"""MagicBrush in its published layout: ``<split>/edit_sessions.json`` maps a session id to its turns
({"input", "mask", "output", "instruction"}: file names in ``<split>/images/<session id>/``, e.g.
``327726-input.png``, ``327726-mask1.png``, ``327726-output1.png``). ``local_descriptions.json`` beside it
(session id -> {output file name: caption}) holds the captions CLIP-T is measured against, as MagicBrush's
evaluation does; without it CLIP-T is not computed."""

import json
from dataclasses import dataclass
from pathlib import Path

from .items import ItemError, ReadResult, split_folder

SESSIONS_FILE = "edit_sessions.json"
CAPTIONS_FILE = "local_descriptions.json"
TURN_FIELDS = ("input", "mask", "output", "instruction")


@dataclass
class MagicBrushTurn:
    session: str
    turn: int  # 1-based, as the dataset names its outputs (output1, output2, ...)
    input_path: Path
    mask_path: Path
    output_path: Path  # the target image
    instruction: str
    caption: str | None

    @property
    def key(self) -> str:
        return f"{self.session}_{self.turn}"


def prediction_name(key: str) -> str:
    """The stable prediction file name: the edited image of one turn."""
    return f"{key}.png"


def _load(path: Path, required: bool):
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"{path} is missing: MagicBrush keeps its turns in {SESSIONS_FILE}")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def parse_turn(sessions_path: Path, images: Path, session: str, index: int, turn, captions) -> MagicBrushTurn:
    where = f"[{session!r}][{index}]"
    if not isinstance(turn, dict):
        raise ItemError(sessions_path, where, "a turn must be an object with " + ", ".join(TURN_FIELDS))
    for name in TURN_FIELDS:
        if not isinstance(turn.get(name), str) or not turn[name].strip():
            raise ItemError(sessions_path, f"{where}.{name}", "missing or empty")
    paths = {}
    for name in ("input", "mask", "output"):
        paths[name] = images / session / turn[name]
        if not paths[name].is_file():
            raise ItemError(sessions_path, f"{where}.{name}", f"file {paths[name]} does not exist")
    caption = (captions or {}).get(session, {}).get(turn["output"]) if isinstance(captions, dict) else None
    return MagicBrushTurn(session, index + 1, paths["input"], paths["mask"], paths["output"],
                          turn["instruction"].strip(), caption if isinstance(caption, str) else None)


def read_magicbrush(root, split: str | None = None, limit: int | None = None) -> ReadResult:
    """All turns, sessions sorted by id; a malformed turn is left out with an error naming it."""
    folder = split_folder(root, split)
    sessions_path = folder / SESSIONS_FILE
    sessions = _load(sessions_path, required=True)
    if not isinstance(sessions, dict):
        raise ValueError(f"{sessions_path}: the top level must map session ids to lists of turns")
    captions = _load(folder / CAPTIONS_FILE, required=False)
    result = ReadResult()
    for session in sorted(sessions):
        turns = sessions[session]
        if not isinstance(turns, list):
            result.errors.append(str(ItemError(sessions_path, f"[{session!r}]", "must be a list of turns")))
            continue
        for index, turn in enumerate(turns):
            if limit is not None and len(result.items) + len(result.errors) >= limit:
                return result
            try:
                result.items.append(parse_turn(sessions_path, folder / "images", str(session), index, turn,
                                               captions))
            except ItemError as err:
                result.errors.append(str(err))
    return result
