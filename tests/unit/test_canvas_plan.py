"""Canvas layout and order, and the plan JSON contract with its errors (no ComfyUI)."""

import json

import numpy as np
import pytest

from genassist.canvas.layout import layout_tiles, neighbours, split
from genassist.canvas.plan import CanvasPlan, PlanError, Rect, plan_from_json


def coverage(plan: CanvasPlan) -> np.ndarray:
    """How many times each canvas pixel is produced: the source once, each tile once."""
    counts = np.zeros((plan.height, plan.width), dtype=int)
    for r in [plan.source] + [t.rect for t in plan.tiles]:
        counts[r.y:r.bottom, r.x:r.right] += 1
    return counts


def captioned(plan: CanvasPlan) -> CanvasPlan:
    plan.global_caption = "a harbour town at dusk"
    for index, tile in enumerate(plan.tiles):
        tile.caption = f"caption {index}"
    return plan


@pytest.mark.parametrize("margins", [
    (37, 0, 100, 21),  # odd, one-sided vertically, not a multiple of the step
    (0, 0, 0, 0),  # nothing to expand
    (0, 0, 5, 0),  # one side, less than a step
    (64, 64, 64, 64),  # x2 in each direction
    (1, 1, 1, 1),
    (200, 3, 0, 77),
])
@pytest.mark.parametrize("source", [(64, 48), (33, 95)])
def test_plans_cover_every_new_pixel_exactly_once(margins, source):
    left, top, right, bottom = margins
    plan = layout_tiles(*source, left, top, right, bottom, tile_size=32, overlap=8)
    assert (plan.width, plan.height) == (left + source[0] + right, top + source[1] + bottom)
    assert plan.source == Rect(left, top, *source)
    assert (coverage(plan) == 1).all(), "a gap or a pixel generated twice"
    for tile in plan.tiles:
        assert 1 <= tile.rect.width <= 24 and 1 <= tile.rect.height <= 24  # at most tile_size - overlap
    if margins == (0, 0, 0, 0):
        assert plan.tiles == []


def test_every_tile_borders_known_pixels_and_grows_away_from_them():
    plan = layout_tiles(64, 64, 64, 64, 64, 64, tile_size=32, overlap=8)
    away = {"left": "right", "right": "left", "up": "down", "down": "up"}
    for index, tile in enumerate(plan.tiles):
        found = neighbours(plan, index)
        assert found, f"tile {index} borders nothing known"
        # the side it grows from is the one opposite its direction
        assert away[tile.direction] in {side for side, _ in found}, (index, tile, found)


def test_order_is_outward_with_edges_before_corners():
    plan = layout_tiles(48, 48, 48, 48, 48, 48, tile_size=32, overlap=8)  # two rings of 24 px
    src = plan.source

    def ring(rect):
        dx = max(0, src.x - rect.right, rect.x - src.right)
        dy = max(0, src.y - rect.bottom, rect.y - src.bottom)
        return max(-(-dx // 24), -(-dy // 24)) + 1

    def corner(rect):
        outside_x = rect.right <= src.x or rect.x >= src.right
        outside_y = rect.bottom <= src.y or rect.y >= src.bottom
        return outside_x and outside_y

    keys = [(ring(t.rect), corner(t.rect)) for t in plan.tiles]
    assert keys == sorted(keys), keys
    assert keys[0] == (1, False) and keys[-1] == (2, True)
    # ring 1: 4 sides x 2 tiles, then 4 corners
    assert [k for k in keys if k[0] == 1] == [(1, False)] * 8 + [(1, True)] * 4


def test_split_is_exact_and_even():
    assert split(100, 24) == [20, 20, 20, 20, 20]
    assert split(37, 24) == [19, 18]
    assert split(5, 24) == [5]
    assert split(0, 24) == []
    assert sum(split(8191, 448)) == 8191 and max(split(8191, 448)) - min(split(8191, 448)) <= 1


def test_bad_settings_are_explained():
    with pytest.raises(ValueError, match="overlap"):
        layout_tiles(64, 64, 10, 0, 0, 0, tile_size=32, overlap=30)
    with pytest.raises(ValueError, match="0 or more"):
        layout_tiles(64, 64, -1, 0, 0, 0, tile_size=32, overlap=8)


def test_json_round_trip_keeps_everything():
    plan = captioned(layout_tiles(64, 48, 37, 0, 100, 21, tile_size=32, overlap=8))
    plan.source_caption = "a red boat"
    data = json.loads(plan.to_json())
    assert set(data) == {"global_caption", "width", "height", "tile_size", "source", "tiles"}
    assert data["source"] == {"x": 37, "y": 0, "width": 64, "height": 48, "caption": "a red boat"}
    assert data["tiles"][0] == {"x": 18, "y": 0, "width": 19, "height": 24, "direction": "left",
                                "caption": "caption 0"}
    again = plan_from_json(plan.to_json())
    assert again == plan


def edited(plan: CanvasPlan, edit) -> str:
    data = json.loads(plan.to_json())
    edit(data)
    return json.dumps(data)


@pytest.mark.parametrize("edit,message", [
    (lambda d: d["tiles"][3].pop("caption"), r"tiles\[3\] \(x=101, y=24\): missing field 'caption'"),
    (lambda d: d["tiles"][2].update(width=-4), r"tiles\[2\]: field 'width' must be at least 1"),
    (lambda d: d["tiles"][1].update(y="top"), r"tiles\[1\]: field 'y' must be a whole number"),
    (lambda d: d["tiles"][0].update(direction="sideways"), r"tiles\[0\] .*field 'direction' must be one of"),
    (lambda d: d["tiles"][5].update(caption="  "), r"tiles\[5\] .*field 'caption' is empty"),
    (lambda d: d["tiles"][4].update(x=190), r"tiles\[4\] .*outside the 201x69 canvas"),
    (lambda d: d["tiles"][4].update(y=40), r"tiles\[4\] .*overlaps the source"),
    (lambda d: d["tiles"][1].update(y=10), r"tiles\[1\] .*overlaps tiles\[0\]"),
    (lambda d: d["tiles"].pop(7), r"uncovered, e.g. pixel \(x=18, y=48\)"),
    (lambda d: d["tiles"].insert(0, d["tiles"].pop(9)), r"tiles\[0\] \(x=0, y=0\) borders neither the source"),
    (lambda d: d.pop("global_caption"), r"plan: missing field 'global_caption'"),
    (lambda d: d["source"].update(width=0), r"field 'source': field 'width' must be at least 1"),
    (lambda d: d.update(tiles={}), r"'tiles' must be a list"),
])
def test_edited_json_errors_name_the_tile_and_field(edit, message):
    plan = captioned(layout_tiles(64, 48, 37, 0, 100, 21, tile_size=32, overlap=8))
    with pytest.raises(PlanError, match=message):
        plan_from_json(edited(plan, edit))


def test_not_json_names_line_and_column():
    with pytest.raises(PlanError, match="not valid JSON: .* line 2, column"):
        plan_from_json('{"width": 3,\n "height": }')
    with pytest.raises(PlanError, match="must be a JSON object"):
        plan_from_json("[1, 2]")


def test_hand_written_plan_with_other_tiles_is_accepted():
    """The contract, not our layout: any exact cover in a growable order is a valid plan."""
    text = json.dumps({"global_caption": "a meadow", "width": 100, "height": 40,
                       "source": {"x": 30, "y": 0, "width": 40, "height": 40},
                       "tiles": [{"x": 70, "y": 0, "width": 30, "height": 40, "direction": "right",
                                  "caption": "trees"},
                                 {"x": 0, "y": 0, "width": 30, "height": 40, "direction": "left",
                                  "caption": "a pond"}]})
    plan = plan_from_json(text)
    assert [t.caption for t in plan.tiles] == ["trees", "a pond"] and plan.source_caption == ""
    assert plan.tile_size == 0 and plan.window_size == 80  # twice the largest tile side
