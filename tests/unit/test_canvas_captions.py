"""Caption requests and answers for the canvas (no ComfyUI): what each tile's request carries, the
three-turn global caption, and malformed answers falling back to the global caption."""

import logging

import numpy as np
import pytest
import torch
from PIL import Image

from genassist.canvas.captions import (
    DESCRIBE,
    IMAGINE,
    SUMMARISE,
    canvas_view,
    caption_plan,
    conditioning_text,
    read_caption,
    tile_request,
    write_global_caption,
)
from genassist.canvas.layout import layout_tiles
from genassist.mllm.parsing import AnswerError

GLOBAL = "A harbour town at dusk with fishing boats and a lighthouse"


def plan_two_rings():
    plan = layout_tiles(48, 64, 48, 0, 0, 0, tile_size=32, overlap=8, global_caption=GLOBAL)
    plan.source_caption = "a red fishing boat by a stone quay"
    return plan  # left band: 2 columns x 3 rows, column next to the source first


def test_first_tile_request_names_global_caption_direction_and_the_source():
    plan = plan_two_rings()
    system, user = tile_request(plan, 0, {})
    assert system.role == "system" and "one short sentence" in system.text
    assert f'Global caption of the whole scene: "{GLOBAL}"' in user.text
    assert "grows to the left" in user.text
    assert '- to its right (the original image): "a red fishing boat by a stone quay"' in user.text
    assert user.images == []


def test_later_tiles_see_the_captions_of_the_tiles_they_border():
    plan = plan_two_rings()
    captions = {0: "wet cobblestones", 1: "a stack of lobster pots", 2: "a rusty anchor"}
    # tile 4: second column, middle row: borders tile 1 on its right, tile 3 above once captioned
    user = tile_request(plan, 4, {**captions, 3: "gulls over a shed roof"})[1].text
    assert '- to its right: "a stack of lobster pots"' in user
    assert '- above it: "gulls over a shed roof"' in user
    assert "wet cobblestones" not in user and "rusty anchor" not in user  # not neighbours
    assert "the original image" not in user


def test_live_request_shows_the_canvas_and_the_planned_caption():
    plan = plan_two_rings()
    image = Image.new("RGB", (96, 48))
    user = tile_request(plan, 0, {}, image=image, planned="wet cobblestones")[1]
    assert user.images == [image]
    assert "canvas painted so far; black parts are not painted yet" in user.text
    assert 'The plan proposed: "wet cobblestones"' in user.text


@pytest.mark.parametrize("answer,expected", [
    ("A row of pastel houses along the quay.", "A row of pastel houses along the quay."),
    ("<think>left side...</think>Caption: \"a row of pastel houses\"", "a row of pastel houses"),
    ("<gen_image> a row of pastel houses </gen_image>", "a row of pastel houses"),
    ("```\nnets drying on a wooden rail\n```", "nets drying on a wooden rail"),
])
def test_well_formed_answers_are_cleaned(answer, expected):
    assert read_caption(answer, GLOBAL, "tiles[0]") == (expected, True)


@pytest.mark.parametrize("answer", ["", "   ", "<think>hmm, what is there", "I'm sorry, I can't help with that.",
                                    "12345 ...", "```\n```"])
def test_malformed_answers_fall_back_to_the_global_caption_with_a_log_line(answer, caplog):
    with caplog.at_level(logging.WARNING, logger="GenAssist"):
        assert read_caption(answer, GLOBAL, "tiles[7]") == (GLOBAL, False)
    assert "tiles[7]" in caplog.text and "using the global caption" in caplog.text


def test_long_answers_keep_their_first_sentence():
    long = "Pastel houses line the quay. " + " ".join(["more"] * 60)
    assert read_caption(long, GLOBAL, "t") == ("Pastel houses line the quay.", True)
    caption, ok = read_caption(" ".join(["word"] * 70), GLOBAL, "t")
    assert ok and len(caption.split()) == 40


def test_caption_plan_asks_in_order_and_passes_earlier_captions_on():
    plan = plan_two_rings()
    seen = []

    def ask(messages, index):
        seen.append((index, messages[1].text))
        return "" if index == 2 else f"caption {index}"

    caption_plan(plan, ask)
    assert [index for index, _ in seen] == list(range(len(plan.tiles)))
    assert [t.caption for t in plan.tiles] == [f"caption {i}" if i != 2 else GLOBAL for i in range(6)]
    assert '- to its right: "caption 0"' in seen[3][1]  # tile 3 (outer column, top) borders tile 0


def test_global_caption_describes_imagines_and_summarises():
    image = Image.new("RGB", (32, 32))
    conversations = []
    answers = iter(["A red boat by a quay.", "Left: houses\nRight: sea\nAbove: gulls\nBelow: water",
                    "A busy harbour town: houses, boats, gulls and open sea."])

    def ask(messages):
        conversations.append(messages)
        return next(answers)

    summary, description = write_global_caption(ask, image)
    assert summary == "A busy harbour town: houses, boats, gulls and open sea."
    assert description == "A red boat by a quay."
    assert [m.text for m in conversations[-1] if m.role == "user"] == [DESCRIBE, IMAGINE, SUMMARISE]
    assert conversations[0][0].images == [image]
    assert conversations[-1][1].text == "A red boat by a quay."  # the model's own turns are replayed


def test_global_caption_falls_back_to_the_description_or_explains():
    answers = iter(["A red boat by a quay.", "whatever", ""])
    summary, _ = write_global_caption(lambda m: next(answers), Image.new("RGB", (8, 8)))
    assert summary == "A red boat by a quay."
    with pytest.raises(AnswerError, match="write a global_caption yourself"):
        write_global_caption(lambda m: "", Image.new("RGB", (8, 8)))


def test_conditioning_text_puts_the_local_caption_first():
    assert conditioning_text(GLOBAL, "wet cobblestones.") == f"wet cobblestones. {GLOBAL}"
    assert conditioning_text(GLOBAL, GLOBAL) == GLOBAL
    assert conditioning_text(GLOBAL, "") == GLOBAL


def test_conditioning_text_says_which_way_the_picture_grows():
    text = conditioning_text(GLOBAL, "wet cobblestones.", "left")
    assert text.startswith("wet cobblestones. ") and text.endswith("The picture continues to the left.")
    assert conditioning_text(GLOBAL, "", "up").endswith("The picture continues upwards.")


def test_canvas_view_shows_painted_pixels_and_unpainted_black():
    plan = layout_tiles(40, 30, 20, 0, 0, 0, tile_size=32, overlap=8)  # 60 x 30 canvas, source at x 20
    canvas = torch.full((30, 60, 3), 0.5)
    generated = torch.zeros(30, 60)
    generated[:, 10:20] = 1  # a painted strip left of the source
    view = np.asarray(canvas_view(plan, canvas, generated))
    assert view.shape == (30, 60, 3)
    assert (view[:, :10] == 0).all() and (view[:, 10:] == 128).all()
    small = canvas_view(plan, canvas, generated, max_side=20)
    assert max(small.size) <= 20  # every 3rd pixel: no canvas-sized copy
