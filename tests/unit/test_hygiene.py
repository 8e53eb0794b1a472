"""Repository hygiene and packaging facts the Comfy Registry / Manager rely on."""

import subprocess
import sys
import tomllib
from pathlib import Path

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


def test_libraries_never_import_comfyui():
    forbidden = ("import comfy", "from comfy", "import folder_paths", "from folder_paths",
                 "import nodes", "from nodes", "from server", "import server")
    offenders = []
    for package in ("mllm", "restoration", "editing", "canvas"):
        for source in (PACK / package).rglob("*.py"):
            for number, line in enumerate(source.read_text().splitlines(), 1):
                if line.strip().startswith(forbidden):
                    offenders.append(f"{source.relative_to(PACK)}:{number}: {line.strip()}")
    assert not offenders, offenders
