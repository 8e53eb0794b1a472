"""Every example workflow opened as a new user opens it: from the template browser, on a ComfyUI with no model
files, in the host's own frontend and in the newest one. Its thumbnail shows on the card, it loads with no
missing node, the frontend lists exactly the files it should as missing (older frontends: a dialog of what the
loaders declare in properties.models; 1.4x+: the errors panel's store of selected files no loader offers), the nodes it draws do not overlap, the API
prompt it builds is the one the V1 nodes gave (byte for byte), and the server accepts that prompt once the
model files exist."""

import json
import shutil
import urllib.request
from pathlib import Path

import pytest

from harness import host
from harness.browser import GRAPH_TO_PROMPT, MISSING_STATE, frontends, open_page
from harness.inprocess import MODEL_FOLDERS, ensure_models_tree
from harness.server import ComfyServer, write_paths_yaml
from harness.workflow_conventions import (
    MIN_READABLE_SCALE,
    NOTE_TYPES,
    expected_missing_models,
    layout_problems,
    model_files,
)

PACK = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((PACK / "example_workflows").glob("*.json"))
# app.graphToPrompt() of every example, captured in frontends 1.49.6 and 1.58.1 (identical) from the V1 nodes
FRONTEND_PROMPTS = json.loads((Path(__file__).parent / "golden" / "frontend_prompts.json").read_text())
TINY_PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                         "0000000d4944415478da63f8cfc0f01f0005000201a5f5d9e20000000049454e44ae426082")

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


@pytest.fixture(scope="module", params=frontends(), ids=lambda f: f[0])
def bare_server(request, tmp_path_factory):
    """A ComfyUI with GenAssist and empty model folders: what a new user has before any download."""
    frontend, args = request.param
    work = tmp_path_factory.mktemp("bare_server")
    models = ensure_models_tree(work / "models")
    server = ComfyServer(work, write_paths_yaml(work / "paths.yaml", models, MODEL_FOLDERS), extra_args=args)
    server.models_dir, server.frontend = models, frontend
    try:
        server.wait_ready()
        server.definitions = server.get_json("/object_info")
        yield server
    finally:
        server.stop()
        shutil.copy(server.log_path, host.artifacts_dir() / f"server_template_browser_{frontend}.log")


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


def _missing(state: dict) -> tuple[list, list]:
    """(missing models as 'directory / name', missing media files) as the frontend found them."""
    found = state["missing"]
    if found is None:  # an older frontend: its missing-models dialog
        return sorted(state["dialogLabels"]), []
    models = sorted({_model_label(m.get("directory"), m["name"]) for m in found["models"]})
    return models, sorted({m["name"] for m in found["media"]})


def _model_label(directory: str | None, name: str) -> str:
    return f"{directory} / {name}" if directory else name


def expected_missing(server, workflow: dict, newer_frontend: bool) -> list[str]:
    """What the frontend lists as missing on a host with no model files. Older frontends: the properties.models
    entries naming the selected file. 1.4x+: every selected model file that is not among its combo's options
    (a loader that offers a file for download lists it, so it is not missing), with the directory where
    properties.models names one."""
    if not newer_frontend:
        return expected_missing_models(workflow)
    labels = set()
    for node in workflow["nodes"]:
        if node["type"] not in server.definitions:
            continue
        inputs = server.definitions[node["type"]]["input"]
        offered = {option for spec in (*inputs.get("required", {}).values(), *inputs.get("optional", {}).values())
                   for option in _combo_options(spec)}
        declared = {m["name"]: m.get("directory") for m in (node.get("properties") or {}).get("models") or []}
        labels |= {_model_label(declared.get(name), name) for name in model_files(node) if name not in offered}
    return sorted(labels)


def _combo_options(spec) -> list:
    if isinstance(spec[0], list):  # V1 combo
        return spec[0]
    return (spec[1] if len(spec) > 1 else {}).get("options", []) if spec[0] == "COMBO" else []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_opened_from_template_browser(page, bare_server, path):
    workflow = json.loads(path.read_text())
    driver = page.driver
    newer_frontend = driver.execute_script(MISSING_STATE) is not None
    expected = expected_missing(bare_server, workflow, newer_frontend)

    thumbnail_width = open_from_template_browser(driver, path.stem)

    def loaded(d):
        state = d.execute_script(GRAPH_STATE)
        state["missing"] = d.execute_script(MISSING_STATE)
        done = len(state["nodes"]) == len(workflow["nodes"]) and path.stem in state["path"]
        return state if done and (len(_missing(state)[0]) >= len(expected)) else False  # listed as found

    state = _wait(driver, loaded, 30, f"{path.name} did not load with its missing models listed")
    shot = page.screenshot(host.artifacts_dir() / f"template_{bare_server.frontend}_{path.stem}.png")
    _close_dialogs(driver)
    missing_models, missing_media = _missing(state)

    assert thumbnail_width == 512
    assert state["state"]["missingNodes"] == [], f"missing node types (screenshot: {shot})"
    assert not (state["missing"] or {}).get("nodes"), f"missing node types (screenshot: {shot})"
    errors = [e for e in state["state"]["errors"] if not e.startswith(OFFLINE_SIZE_LOOKUP)]
    assert errors == [], f"console errors while loading (screenshot: {shot})"
    assert missing_models == expected, f"missing models (screenshot: {shot})"
    if state["missing"] is None:
        assert sorted(state["state"]["missingModels"] or []) == expected
    # only the loaders of missing files (and image inputs with no file yet) are marked as errors
    flagged = {str(n["id"]) for n in state["nodes"] if n["has_errors"]}
    named = {str(m["nodeId"]) for kind in ("models", "media") for m in (state["missing"] or {}).get(kind, [])}
    assert flagged <= named, f"nodes shown with errors (screenshot: {shot})"
    # The frontend grows nodes to what their widgets need: the layout must hold at the drawn sizes too.
    drawn = {"nodes": state["nodes"], "groups": state["groups"], "links": state["links"]}
    assert layout_problems(drawn) == [], f"layout as drawn (screenshot: {shot})"
    assert {n["type"] for n in state["nodes"]} & NOTE_TYPES
    if state["missing"] is None:  # frontends before 1.4x open a template at its saved view; later ones fit it
        assert state["scale"] == pytest.approx(workflow["extra"]["ds"]["scale"])
        assert state["scale"] >= MIN_READABLE_SCALE

    prompt = driver.execute_async_script(GRAPH_TO_PROMPT)
    assert json.dumps(prompt, sort_keys=True) == json.dumps(FRONTEND_PROMPTS[path.name], sort_keys=True)
    _assert_accepted(bare_server, prompt, missing_models, missing_media)


# Folders of the loaders whose example entries name no directory (no download URL to declare).
LOADER_FOLDERS = {"GenAssist_LoadDiffRIR": "diffrir"}


def _loader_folder(prompt: dict, name: str) -> str:
    loaders = {n["class_type"] for n in prompt.values() if name in n["inputs"].values()}
    known = [LOADER_FOLDERS[t] for t in loaders if t in LOADER_FOLDERS]
    assert known, f"{name} is selected by {sorted(loaders)}: add its folder to LOADER_FOLDERS"
    return known[0]


def _assert_accepted(server, prompt: dict, models: list, media: list):
    """With the missing files in place (placeholders: validation only checks they exist), the server accepts
    the frontend's prompt; it is then taken off the queue before anything loads the placeholders."""
    placed = []
    for entry in models:
        directory, name = entry.split(" / ", 1) if " / " in entry else (_loader_folder(prompt, entry), entry)
        placed.append(server.models_dir / directory / name)
    placed += [server.input_dir / name for name in media]
    for path in placed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(TINY_PNG)
    try:
        server.post_json("/queue", {"clear": True})
        answer = server.post_json("/prompt", {"prompt": prompt, "client_id": "genassist-browser-test"})
        assert answer.get("prompt_id") and not answer.get("node_errors"), answer
    finally:
        server.post_json("/queue", {"clear": True})
        server.post_json("/interrupt", {})
        for path in placed:
            path.unlink()


def test_thumbnails_are_served_where_the_browser_reads_them(bare_server):
    for path in EXAMPLES:
        url = f"{bare_server.url}/api/workflow_templates/{host.PACK_NAME}/{path.stem}.jpg"
        with urllib.request.urlopen(url, timeout=30) as resp:
            assert resp.status == 200
            assert resp.read() == path.with_suffix(".jpg").read_bytes()


def test_dialog_follows_the_same_rules_as_the_expected_list(page):
    """The frontend lists an entry only when its file is the node's selected one, once per file: a workflow
    whose SAM loader selects another file and whose checkpoint loader is doubled lists the checkpoint alone."""
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

    def listed(d):
        state = d.execute_script(GRAPH_STATE)
        state["missing"] = d.execute_script(MISSING_STATE)
        return _missing(state)[0] or False

    models = _wait(driver, listed, 30, "no missing models listed")
    _close_dialogs(driver)
    assert models == expected
