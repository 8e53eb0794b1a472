"""Small synthetic datasets in the published layouts, written by the tests (helpers, not tests)."""

import json
from pathlib import Path

import numpy as np
from PIL import Image


def rect(x0, y0, x1, y1, label="target") -> dict:
    """A labelme rectangle polygon; LISA's rasterisation covers x0..x1 and y0..y1 inclusive."""
    return {"label": label, "points": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], "shape_type": "polygon"}


def reasonseg_item(folder: Path, stem: str, size, shapes, text=("the thing",), is_sentence=False,
                   suffix=".jpg") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(len(stem))
    Image.fromarray(rng.randint(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(folder / f"{stem}{suffix}")
    (folder / f"{stem}.json").write_text(json.dumps({"text": list(text), "is_sentence": is_sentence,
                                                    "shapes": shapes}))
    return folder / f"{stem}{suffix}"


def save_mask(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(path)


def magicbrush(root: Path, sessions: dict, captions: dict | None = None, size=(64, 64)) -> Path:
    """sessions: {session id: number of turns}; writes images/<id>/<id>-input.png, -maskN, -outputN."""
    root.mkdir(parents=True, exist_ok=True)
    data = {}
    for session, turns in sessions.items():
        folder = root / "images" / session
        folder.mkdir(parents=True, exist_ok=True)
        entries = []
        for turn in range(1, turns + 1):
            source = f"{session}-input.png" if turn == 1 else f"{session}-output{turn - 1}.png"
            Image.new("RGB", size, (10 * turn, 20, 30)).save(folder / f"{session}-output{turn}.png")
            Image.new("RGB", size, (255, 255, 255)).save(folder / f"{session}-mask{turn}.png")
            entries.append({"input": source, "mask": f"{session}-mask{turn}.png",
                            "output": f"{session}-output{turn}.png", "instruction": f"make it red {turn}"})
        Image.new("RGB", size, (0, 0, 0)).save(folder / f"{session}-input.png")
        data[session] = entries
    (root / "edit_sessions.json").write_text(json.dumps(data))
    if captions is not None:
        (root / "local_descriptions.json").write_text(json.dumps(captions))
    return root
