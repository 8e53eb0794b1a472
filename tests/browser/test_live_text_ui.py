"""Live text in the real web UI: the user presses Run (app.queuePrompt) on MLLM Server → Refine Prompt →
Preview Any, and while the answer streams the Refine Prompt node shows it growing in its text preview (the
frontend's `$$node-text-preview` widget, fed by the host's progress-text frames), in the host's frontend and
the newest one. A screenshot of the node mid-answer is kept in tests/artifacts/."""

import shutil
import time

import pytest

from harness import host
from harness.browser import frontends, open_page
from harness.inprocess import MODEL_FOLDERS, ensure_models_tree
from harness.openai_server import ScriptedOpenAIServer
from harness.server import ComfyServer, write_paths_yaml

ANSWER = "<gen_image>a red fox curled up in fresh snow at dawn, soft pink light on the hills behind</gen_image>"
BUILD_GRAPH = """
const [url] = arguments;
app.graph.clear();
const add = (type, x) => { const n = LiteGraph.createNode(type); n.pos = [x, 120]; app.graph.add(n); return n; };
const widget = (node, name) => node.widgets.find(w => w.name === name);
const server = add('GenAssist_MLLMServer', 60), refine = add('GenAssist_RefinePrompt', 460), show = add('PreviewAny', 900);
widget(server, 'base_url').value = url;
widget(server, 'model').value = 'scripted';
widget(refine, 'text').value = 'fox, snow';
server.connect(0, refine, 0);
refine.connect(0, show, 0);
return refine.id;
"""
NODE_TEXT = """
const node = app.graph.getNodeById(arguments[0]);
const preview = (node.widgets || []).find(w => w.name === '$$node-text-preview');
return {text: preview ? String(preview.value ?? '') : null, running: node.progress !== undefined};
"""


@pytest.fixture(scope="module", params=frontends(), ids=lambda f: f[0])
def ui_server(request, tmp_path_factory):
    frontend, args = request.param
    work = tmp_path_factory.mktemp("live_text_ui")
    models = ensure_models_tree(work / "models")
    server = ComfyServer(work, write_paths_yaml(work / "paths.yaml", models, MODEL_FOLDERS), extra_args=args)
    server.frontend = frontend
    try:
        yield server.wait_ready()
    finally:
        server.stop()
        shutil.copy(server.log_path, host.artifacts_dir() / f"server_live_text_{frontend}.log")


def test_refine_prompt_node_shows_the_answer_while_it_is_written(ui_server):
    page = open_page(ui_server)
    try:
        with ScriptedOpenAIServer(reply=ANSWER, chunk_chars=3, chunk_delay=0.15) as llm:
            driver = page.driver
            refine_id = driver.execute_script(BUILD_GRAPH, llm.base_url)
            driver.execute_script("app.queuePrompt(0);")
            seen, shot, deadline = [], None, time.monotonic() + 120
            while time.monotonic() < deadline:
                state = driver.execute_script(NODE_TEXT, refine_id)
                if state["text"] and (not seen or state["text"] != seen[-1]):
                    seen.append(state["text"])
                    if shot is None and len(seen) >= 3:
                        shot = page.screenshot(host.artifacts_dir() / f"live_text_{ui_server.frontend}.png")
                if state["text"] == ANSWER and not state["running"]:
                    break
                time.sleep(0.1)
    finally:
        page.close()
    assert seen and seen[-1] == ANSWER, seen
    partial = [text for text in seen if text != ANSWER]
    assert len(partial) >= 3, f"the node showed {len(partial)} partial answers: {seen}"
    assert all(ANSWER.startswith(text) for text in partial)
    assert all(len(a) < len(b) for a, b in zip(seen, seen[1:])), "the text shown did not only grow"
    assert shot is not None
