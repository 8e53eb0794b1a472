"""Drive the real ComfyUI web UI in Debian's headless Chromium (Selenium, no driver downloads)."""

import json
import shutil
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--disable-dev-shm-usage", "--window-size=1600,1000")

# Runs in the page: load one workflow through the app API and report what the frontend saw.
LOAD_SCRIPT = """
const [workflow, name, done] = arguments;
const report = {missing: [], errors: [], loaded: 0, expected: 0, placeholder: []};
const origError = console.error;
const origMissing = app.showMissingNodesError;
console.error = (...args) => { report.errors.push(args.map(String).join(' ')); origError.apply(console, args); };
app.showMissingNodesError = (types, ...rest) => { report.missing.push(...types.map(t => t.type || t)); };
(async () => {
  try {
    if (!workflow || !Array.isArray(workflow.nodes)) throw new Error('not a UI workflow: no nodes array');
    report.expected = workflow.nodes.length;
    for (const node of workflow.nodes)
      if (!(node.type in LiteGraph.registered_node_types)) report.missing.push(node.type);
    await app.loadGraphData(workflow, true, true, name);
    const nodes = app.graph._nodes || app.graph.nodes;
    report.loaded = nodes.length;
    report.placeholder = nodes.filter(n => n.has_errors).map(n => n.type);
  } catch (e) {
    report.errors.push('exception: ' + (e && e.stack || e));
  } finally {
    console.error = origError;
    app.showMissingNodesError = origMissing;
    report.missing = [...new Set(report.missing)];
    done(report);
  }
})();
"""

READY_SCRIPT = """
return !!(window.app && window.app.graph && window.LiteGraph && window.LiteGraph.registered_node_types
          && Object.keys(window.LiteGraph.registered_node_types).length > 50);
"""


def browser_available() -> bool:
    return Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()


class ComfyPage:
    """One headless Chromium session on a ComfyUI server's UI."""

    def __init__(self, url: str):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="genassist-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_script_timeout(120)
        self.driver.get(url)

    def wait_ready(self, timeout: float = 180) -> "ComfyPage":
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout, poll_frequency=0.5).until(
            lambda d: d.execute_script(READY_SCRIPT))
        return self

    def registered(self, node_type: str) -> bool:
        return bool(self.driver.execute_script(
            "return arguments[0] in LiteGraph.registered_node_types;", node_type))

    def load_workflow(self, workflow, name: str) -> dict:
        return self.driver.execute_async_script(LOAD_SCRIPT, workflow, name)

    def screenshot(self, path: Path) -> Path:
        self.driver.save_screenshot(str(path))
        return path

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)


def open_page(server) -> ComfyPage:
    """A ready page on `server`'s UI. The tutorial is marked done first: a first start would open the template
    browser over the canvas."""
    if not browser_available():
        raise RuntimeError("chromium/chromedriver missing: run scripts/setup_host.sh --test (installs Debian's "
                           "packages)")
    server.post_json("/settings/Comfy.TutorialCompleted", True)
    return ComfyPage(server.url).wait_ready()


def load_problems(report: dict) -> list[str]:
    """Everything that makes a workflow load a failure; empty when it loaded cleanly."""
    problems = [f"unknown node type: {t}" for t in report.get("missing", [])]
    problems += [f"load error: {e}" for e in report.get("errors", [])]
    problems += [f"node shown as broken placeholder: {t}" for t in report.get("placeholder", [])]
    if report.get("loaded") != report.get("expected"):
        problems.append(f"{report.get('loaded')} nodes in the graph, {report.get('expected')} in the file")
    return problems


def read_workflow(path: Path):
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        return {"invalid_json": str(err)}


def frontends() -> list[tuple[str, list[str]]]:
    """The web UIs the browser layer runs in: the host's own frontend package, and the newest one
    (setup_host.sh --test installs it beside the host), served with --front-end-root. Each: (id, server args)."""
    from .host import host_setting

    found = [("host-frontend", [])]
    root = host_setting("NEWEST_FRONTEND_ROOT")
    if root:
        found.append((f"frontend-{Path(root).parents[1].name}", ["--front-end-root", root]))
    return found


# What the frontend found missing when a workflow loaded, read from its own stores (1.4x+ lists missing
# models and media in the side panel's errors tab, not in a dialog); null on frontends without those stores.
MISSING_STATE = """
const el = [...document.querySelectorAll('*')].find(e => e.__vue_app__);
const stores = el && el.__vue_app__.config.globalProperties.$pinia && el.__vue_app__.config.globalProperties.$pinia._s;
if (!stores || !stores.get('missingModel')) return null;
const plain = v => JSON.parse(JSON.stringify(v ?? null));
return {models: plain(stores.get('missingModel').missingModelCandidates) || [],
        media: plain(stores.get('missingMedia') && stores.get('missingMedia').missingMediaCandidates) || [],
        nodes: plain(stores.get('missingNodesError') && stores.get('missingNodesError').missingNodesError)};
"""
# The API prompt the frontend itself builds from the loaded graph (what its Run button sends).
GRAPH_TO_PROMPT = "const done = arguments[0]; app.graphToPrompt().then(p => done(p.output));"
