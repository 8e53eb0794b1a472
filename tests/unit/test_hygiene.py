"""Repository hygiene and packaging facts the Comfy Registry / Manager rely on."""

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from harness.host import PACK_NAME
from harness.pack import LIBRARIES, LIBRARY_LAYERS

PACK = Path(__file__).resolve().parents[2]


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-s"], cwd=PACK, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def test_no_bytecode_or_symlinks_tracked():
    rows = _tracked()
    assert rows, "git ls-files returned nothing: not a checkout?"
    paths = [row.split("\t", 1)[1] for row in rows]
    assert not [p for p in paths if "__pycache__" in p or p.endswith((".pyc", ".pyo"))]
    assert not [row for row in rows if row.startswith("120000")], "symlinks are refused by ComfyUI policies"


def test_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=PACK,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pyproject_registry_fields():
    meta = tomllib.loads((PACK / "pyproject.toml").read_text())
    project, comfy = meta["project"], meta["tool"]["comfy"]
    assert project["name"] == "genassist"
    major, minor, patch = project["version"].split(".")
    assert all(part.isdigit() for part in (major, minor, patch))
    assert (PACK / project["license"]["file"]).read_text().startswith(" " * 20 + "GNU GENERAL PUBLIC LICENSE")
    assert "Repository" in project["urls"]
    assert comfy["PublisherId"] and comfy["DisplayName"] == "GenAssist"
    assert comfy["requires-comfyui"] == ">=0.3.75"


def test_requirements_never_pin_host_packages():
    lines = [line.split("#")[0].strip() for line in (PACK / "requirements.txt").read_text().splitlines()]
    names = {line.split("=")[0].split(">")[0].split("<")[0].split("[")[0].strip().lower() for line in lines if line}
    assert not names & {"torch", "torchvision", "torchaudio", "numpy"}
    deps = tomllib.loads((PACK / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(deps) == sorted(line for line in lines if line), "pyproject and requirements.txt disagree"


def library_import_problems(pack: Path) -> list[str]:
    """Imports that break the layering: ComfyUI in a library, an import of a library at the same or a higher
    layer, an absolute import of the pack, or a fallback `except ImportError` around the pack's own imports."""
    layer_of = {name: depth for depth, layer in enumerate(LIBRARY_LAYERS) for name in layer}
    problems = []
    for package, depth in layer_of.items():
        for source in sorted((pack / package).rglob("*.py")):
            where = str(source.relative_to(pack))
            tree = ast.parse(source.read_text(), filename=where)
            for node in ast.walk(tree):
                if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
                    if any(_is_pack_import(n) for stmt in node.body for n in ast.walk(stmt)):
                        problems.append(f"{where}:{node.lineno}: except ImportError around the pack's own import")
                if isinstance(node, ast.Import):
                    targets = [(alias.name, 0) for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    targets = [(node.module or "", node.level)]
                else:
                    continue
                for module, level in targets:
                    top = module.split(".")[0]
                    if level == 0 and top in HOST_MODULES:
                        problems.append(f"{where}:{node.lineno}: imports ComfyUI ({module})")
                    elif level == 0 and top in (PACK_NAME, *layer_of):
                        problems.append(f"{where}:{node.lineno}: absolute import of the pack ({module})")
                    elif level >= 2 and top in layer_of and top != package and layer_of[top] >= depth:
                        problems.append(f"{where}:{node.lineno}: {package} imports {top}, not below it")
                    elif level >= 2 and top not in layer_of:
                        problems.append(f"{where}:{node.lineno}: {package} imports {top or 'the pack root'}")
    return problems


HOST_MODULES = {"comfy", "comfy_extras", "comfy_api", "folder_paths", "nodes", "server", "execution",
                "latent_preview", "node_helpers"}


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)


def _is_pack_import(node) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] in LIBRARIES
    return isinstance(node, ast.Import) and any(a.name.split(".")[0] in LIBRARIES for a in node.names)


def test_every_library_package_is_layered():
    packages = {p.parent.name for p in PACK.glob("*/__init__.py")} - {"nodes", "tests", "bench"}
    assert packages <= set(LIBRARIES), f"add {packages - set(LIBRARIES)} to harness.pack.LIBRARY_LAYERS"
    lint = tomllib.loads((PACK / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]["isort"]
    assert PACK_NAME in lint["known-first-party"]


def test_libraries_import_only_downward_and_never_comfyui():
    assert library_import_problems(PACK) == []


def test_layering_check_catches_planted_imports(tmp_path):
    for package in LIBRARIES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "mllm" / "upward.py").write_text("from ..editing.plan import EditPlan\n")
    (tmp_path / "editing" / "host.py").write_text("import torch\n\ndef f():\n    import comfy.utils\n")
    (tmp_path / "canvas" / "fallback.py").write_text(
        "try:\n    from ..mllm.backend import Message\nexcept ImportError:\n    from mllm.backend import Message\n")
    (tmp_path / "segmentation" / "sideways.py").write_text("from ..conditioning import token_windows\n")
    (tmp_path / "editing" / "fine.py").write_text("from ..segmentation import sam_masks\nfrom .plan import x\n")
    problems = "\n".join(library_import_problems(tmp_path))
    assert "mllm/upward.py:1: mllm imports editing, not below it" in problems
    assert "editing/host.py:4: imports ComfyUI (comfy.utils)" in problems
    assert "canvas/fallback.py:1: except ImportError" in problems
    assert "canvas/fallback.py:4: absolute import of the pack (mllm.backend)" in problems
    assert "segmentation/sideways.py:1: segmentation imports conditioning" in problems
    assert "fine.py" not in problems
