"""ComfyUI's --quick-test-for-ci import smoke test: GenAssist imports cleanly (all its nodes, no traceback
printed at start-up), and a broken node module is reported (while the other nodes still load)."""

import shutil
import subprocess
from pathlib import Path

from harness import host
from harness.pack import LIBRARIES

# what an installed copy of the pack holds: its entry point, the nodes, every library package, the web files
PACK_PARTS = ("__init__.py", "pyproject.toml", "nodes", *LIBRARIES, "web", "example_workflows")


def quick_test(custom_nodes: Path, tmp_path: Path, name: str = host.PACK_NAME) -> str:
    (tmp_path / "user").mkdir(exist_ok=True)
    yaml = tmp_path / "paths.yaml"
    yaml.write_text(f"smoke:\n  custom_nodes: {custom_nodes}\n")
    result = subprocess.run(
        [host.comfy_python(), "main.py", "--cpu", "--quick-test-for-ci", "--disable-all-custom-nodes",
         "--whitelist-custom-nodes", name, "--extra-model-paths-config", str(yaml),
         "--user-directory", str(tmp_path / "user"), "--output-directory", str(tmp_path / "out")],
        cwd=host.comfy_dir(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def import_failures(log: str, pack_path: Path) -> list[str]:
    """ComfyUI's own failure lines for this pack's folder (not core's, wherever the host lives), and ours."""
    return [line for line in log.splitlines()
            if (("IMPORT FAILED" in line or "Cannot import" in line) and str(pack_path) in line)
            or ("GenAssist: nodes/" in line and "failed to load" in line)]


def test_pack_imports_cleanly(tmp_path):
    log = quick_test(host.custom_nodes_dir(), tmp_path)
    assert import_failures(log, host.custom_nodes_dir() / host.PACK_NAME) == []
    loaded = [line for line in log.splitlines() if "GenAssist:" in line and "nodes loaded" in line]
    assert loaded and int(loaded[0].split("GenAssist:")[1].split()[0]) >= 19, loaded


def test_start_up_prints_no_traceback(tmp_path):
    """What `make run` prints when it starts: no traceback from the pack or from core (core's audio nodes
    print one where torchaudio is missing; setup_host.sh installs it)."""
    log = quick_test(host.custom_nodes_dir(), tmp_path)
    assert "Traceback" not in log, log[-4000:]


def test_broken_module_is_reported_and_others_still_load(tmp_path):
    pack = tmp_path / "custom_nodes" / "genassist_broken"
    for part in PACK_PARTS:
        source = host.PACK_DIR / part
        if source.is_dir():
            shutil.copytree(source, pack / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            pack.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, pack / part)
    (pack / "nodes" / "zz_broken.py").write_text("import genassist_module_that_does_not_exist\n")
    log = quick_test(pack.parent, tmp_path, name="genassist_broken")
    failures = import_failures(log, pack)
    assert any("nodes/zz_broken.py failed to load" in line for line in failures), log[-3000:]
    assert "pip install -r" in log  # the fix is named
    assert any("GenAssist:" in line and "nodes loaded" in line and " 0 nodes" not in line
               for line in log.splitlines())
