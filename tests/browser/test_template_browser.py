"""Every example workflow opened as a new user opens it: from the template browser, on a ComfyUI with no model
files. Its thumbnail shows on the card, it loads with no missing node, the missing-models dialog lists exactly
the files its loaders declare in properties.models, and the nodes the frontend draws do not overlap."""

import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from harness import host
from harness.browser import open_page
from harness.inprocess import MODEL_FOLDERS, ensure_models_tree
from harness.server import ComfyServer, write_paths_yaml
from harness.workflow_conventions import (
    MIN_READABLE_SCALE,
    NOTE_TYPES,
    expected_missing_models,
    layout_problems,
)

PACK = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((PACK / "example_workflows").glob("*.json"))

# The missing-models dialog asks each huggingface.co URL for the file's size; the test host is offline.
OFFLINE_SIZE_LOOKUP = "Error fetching file size"
OPEN_TEMPLATES = "app.extensionManager.command.execute('Comfy.BrowseTemplates');"
CARD = "[data-testid='template-workflow-{name}']"
# Records what the frontend reports while a template loads; the dialogs still open as they would for a user.
HOOKS = """
window.__genassist = {missingNodes: [], errors: [], missingModels: null};
const state = window.__genassist;
if (!window.__genassistHooked) {
  window.__genassistHooked = true;
  const origError = console.error, origNodes = app.showMissingNodesError, origModels = app.showMissingModelsError;
  console.error = (...args) => { window.__genassist.errors.push(args.map(String).join(' ')); origError.apply(console, args); };
  app.showMissingNodesError = function (types, ...rest) {
    window.__genassist.missingNodes.push(...types.map(t => t.type || t)); return origNodes.call(this, types, ...rest); };
  app.showMissingModelsError = function (models, ...rest) {
    window.__genassist.missingModels = models.map(m => `${m.directory} / ${m.name}`);
    return origModels.call(this, models, ...rest); };
}
"""
CLICK_CATEGORY = """
const label = [...document.querySelectorAll('span')].find(s => s.textContent.trim() === arguments[0]);
if (!label) return false;
label.scrollIntoView({block: 'center'});
label.click();
return true;
"""
THUMBNAIL_WIDTH = """
const card = document.querySelector(arguments[0]);
if (!card) return 0;
card.scrollIntoView({block: 'center'});
const img = card.querySelector('img');
return img && img.complete ? img.naturalWidth : 0;
"""
OPEN_DIALOGS = "return [...document.querySelectorAll('.p-dialog')].filter(d => d.offsetParent !== null).length;"
CLOSE_DIALOGS = "document.querySelectorAll('.p-dialog .p-dialog-close-button').forEach(b => b.click());"
GRAPH_STATE = """
const nodes = app.graph._nodes || app.graph.nodes;
return {
  path: (app.extensionManager.workflow.activeWorkflow || {}).path || '',
  nodes: nodes.map(n => ({id: n.id, type: n.type, pos: Array.from(n.pos), size: Array.from(n.size),
                          has_errors: !!n.has_errors})),
  groups: (app.graph._groups || app.graph.groups).map(g => ({id: g.id, title: g.title, font_size: g.font_size,
                                                             bounding: Array.from(g._bounding || g.bounding)})),
  links: [...(app.graph.links instanceof Map ? app.graph.links.values() : Object.values(app.graph.links))]
           .filter(Boolean).map(l => [l.id, l.origin_id, l.origin_slot, l.target_id, l.target_slot, l.type]),
  dialogLabels: [...document.querySelectorAll('.comfy-missing-models [role=option] span[title]')]
                  .map(s => s.textContent.trim()),
  state: window.__genassist,
  scale: app.canvas.ds.scale,
};
"""


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory):
    """A ComfyUI with GenAssist and empty model folders: what a new user has before any download."""
    work = tmp_path_factory.mktemp("bare_server")
    models = ensure_models_tree(work / "models")
    server = ComfyServer(work, write_paths_yaml(work / "paths.yaml", models, MODEL_FOLDERS))
    try:
        yield server.wait_ready()
    finally:
        server.stop()
        shutil.copy(server.log_path, host.artifacts_dir() / "server_template_browser.log")


@pytest.fixture(scope="module")
def page(bare_server):
    page = open_page(bare_server)
    yield page
    page.close()


def _wait(driver, condition, timeout: float, message: str):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(condition)
    except TimeoutException:
        raise AssertionError(message) from None


def _close_dialogs(driver):
    driver.execute_script(CLOSE_DIALOGS)
    _wait(driver, lambda d: not d.execute_script(OPEN_DIALOGS), 10, "a dialog stayed open")


def open_from_template_browser(driver, name: str) -> int:
    """Open the template browser, go to the pack's category, wait for the card's thumbnail, click the card.
    Clicks run in the page (the dialog re-renders while it fills, which would leave element handles stale)."""
    driver.execute_script(HOOKS)
    driver.execute_script(OPEN_TEMPLATES)
    _wait(driver, lambda d: d.execute_script(CLICK_CATEGORY, host.PACK_NAME), 20,
          f"no '{host.PACK_NAME}' category in the template browser")
    selector = CARD.format(name=name)
    width = _wait(driver, lambda d: d.execute_script(THUMBNAIL_WIDTH, selector), 20,
                  f"no card with a thumbnail for {name} in the '{host.PACK_NAME}' category")
    driver.execute_script("document.querySelector(arguments[0]).click();", selector)
    return width


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_opened_from_template_browser(page, bare_server, path):
    workflow = json.loads(path.read_text())
    expected = expected_missing_models(workflow)
    driver = page.driver

    thumbnail_width = open_from_template_browser(driver, path.stem)

    def loaded(d):
        state = d.execute_script(GRAPH_STATE)
        done = len(state["nodes"]) == len(workflow["nodes"]) and path.stem in state["path"]
        return state if done and (state["dialogLabels"] or not expected) else False

    state = _wait(driver, loaded, 30, f"{path.name} did not load with a missing-models dialog")
    shot = page.screenshot(host.artifacts_dir() / f"template_{path.stem}.png")
    _close_dialogs(driver)

    assert thumbnail_width == 512
    assert state["state"]["missingNodes"] == [], f"missing node types (screenshot: {shot})"
    assert [n["type"] for n in state["nodes"] if n["has_errors"]] == []
    errors = [e for e in state["state"]["errors"] if not e.startswith(OFFLINE_SIZE_LOOKUP)]
    assert errors == [], f"console errors while loading (screenshot: {shot})"
    assert sorted(state["dialogLabels"]) == expected, f"missing-models dialog (screenshot: {shot})"
    assert sorted(state["state"]["missingModels"] or []) == expected
    # The frontend grows nodes to what their widgets need: the layout must hold at the drawn sizes too.
    drawn = {"nodes": state["nodes"], "groups": state["groups"], "links": state["links"]}
    assert layout_problems(drawn) == [], f"layout as drawn (screenshot: {shot})"
    assert {n["type"] for n in state["nodes"]} & NOTE_TYPES
    assert state["scale"] == pytest.approx(workflow["extra"]["ds"]["scale"]) and state["scale"] >= MIN_READABLE_SCALE


def test_thumbnails_are_served_where_the_browser_reads_them(bare_server):
    for path in EXAMPLES:
        url = f"{bare_server.url}/api/workflow_templates/{host.PACK_NAME}/{path.stem}.jpg"
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200
            assert resp.read() == path.with_suffix(".jpg").read_bytes()


def test_dialog_follows_the_same_rules_as_the_expected_list(page):
    """The frontend lists an entry only when its file is the node's selected one, once per URL: a workflow whose
    SAM loader selects another file and whose checkpoint loader is doubled lists the checkpoint alone."""
    workflow = json.loads((PACK / "example_workflows" / "segment_grounded_inpaint.json").read_text())
    sam = next(n for n in workflow["nodes"] if n["type"] == "GenAssist_LoadSAM")
    sam["widgets_values"][0] = "sam_vit_b_01ec64.pth"
    twin = dict(next(n for n in workflow["nodes"] if n["type"] == "CheckpointLoaderSimple"), id=999,
                pos=[-2000, -2000])
    workflow["nodes"].append(twin)
    expected = expected_missing_models(workflow)
    assert expected == ["checkpoints / sd-v1-5-inpainting.safetensors"]
    driver = page.driver
    driver.execute_script(HOOKS)
    driver.execute_script("app.loadGraphData(arguments[0], true, true, 'rules_check');", workflow)
    state = _wait(driver, lambda d: (s := d.execute_script(GRAPH_STATE))["dialogLabels"] and s, 30,
                  "no missing-models dialog")
    _close_dialogs(driver)
    assert sorted(state["dialogLabels"]) == expected
