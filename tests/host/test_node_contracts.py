"""Every GenAssist node, as the real ComfyUI registry sees it, meets the pack's conventions."""

import re
from pathlib import Path

import pytest

PACK = Path(__file__).resolve().parents[2]
ID_PATTERN = re.compile(r"^GenAssist_[A-Z][A-Za-z0-9]+$")


def _ours(comfy_host) -> dict:
    return {k: v for k, v in comfy_host.NODE_CLASS_MAPPINGS.items() if k.startswith("GenAssist_")}


def test_pack_loaded_with_nodes(comfy_host):
    ours = _ours(comfy_host)
    assert ours, "no GenAssist node registered"
    for node_id, cls in ours.items():
        assert cls.RELATIVE_PYTHON_MODULE.startswith("custom_nodes."), node_id
        assert node_id in comfy_host.NODE_DISPLAY_NAME_MAPPINGS, f"{node_id} has no display name"


def test_node_conventions(comfy_host):
    problems = []
    for node_id, cls in sorted(_ours(comfy_host).items()):
        if not ID_PATTERN.match(node_id):
            problems.append(f"{node_id}: id must be GenAssist_<Verb><Thing>")
        if not getattr(cls, "CATEGORY", "").startswith("GenAssist/"):
            problems.append(f"{node_id}: CATEGORY must start with GenAssist/")
        if not getattr(cls, "DESCRIPTION", "").strip():
            problems.append(f"{node_id}: no DESCRIPTION")
        if not (PACK / "web" / "docs" / f"{node_id}.md").is_file():
            problems.append(f"{node_id}: no help page web/docs/{node_id}.md")
        for section, inputs in cls.INPUT_TYPES().items():
            if section == "hidden":
                continue
            for name, spec in inputs.items():
                opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                if not opts.get("tooltip"):
                    problems.append(f"{node_id}: input {name!r} has no tooltip")
        tooltips = getattr(cls, "OUTPUT_TOOLTIPS", ())
        if len(tooltips) != len(cls.RETURN_TYPES) or not all(tooltips):
            problems.append(f"{node_id}: every output needs a tooltip (OUTPUT_TOOLTIPS)")
        if not callable(getattr(cls, cls.FUNCTION, None)):
            problems.append(f"{node_id}: FUNCTION {cls.FUNCTION!r} is not a method")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("folder", ["LLM", "sams", "diffrir"])
def test_model_folders_registered_and_extra_paths_kept(comfy_host, models_dir, folder):
    import folder_paths

    paths = folder_paths.get_folder_paths(folder)
    assert str(models_dir / folder) in paths, "path from extra_model_paths.yaml was clobbered"
    assert any(Path(p).parts[-2:] == ("models", folder) for p in paths), "default models/<folder> path missing"


def test_every_node_is_v3_on_the_pinned_api(comfy_host):
    """Every node is an io.ComfyNode of comfy_api.v0_0_2 (the V3 API both supported hosts provide)."""
    from comfy_api.v0_0_2 import io

    not_v3 = [node_id for node_id, cls in _ours(comfy_host).items()
              if not (isinstance(cls, type) and issubclass(cls, io.ComfyNode))]
    assert not not_v3, f"not V3 (io.ComfyNode) nodes: {not_v3}"
    for node_id, cls in _ours(comfy_host).items():
        assert cls.GET_SCHEMA().node_id == node_id


def test_node_definitions_unchanged_since_v1(comfy_host):
    """Ids, display names, categories, descriptions, input names/order/types/defaults/bounds/tooltips and
    outputs are what the V1 nodes declared (golden captured from them on ComfyUI 0.33.0 and 0.3.75: the
    same once the host's sampler lists and the files on disk are set aside)."""
    import json

    from harness.node_info import comparable

    golden = json.loads((Path(__file__).parent / "golden" / "v1_node_definitions.json").read_text())
    live = {node_id: comparable(node_id, json.loads(json.dumps(cls.GET_NODE_INFO_V1())))
            for node_id, cls in _ours(comfy_host).items()}
    missing = sorted(set(golden) - set(live))
    assert not missing, f"V1 nodes gone: {missing}"  # nodes added since V1 have no golden and are not compared
    changed = [f"{node_id}: {key} {_diff(live[node_id][key], value)}" for node_id in sorted(golden)
               for key, value in golden[node_id].items() if live[node_id][key] != value]
    assert not changed, "\n".join(changed)


def _diff(live, golden) -> str:
    """Where two definitions differ, named down to the input and option."""
    if isinstance(live, dict) and isinstance(golden, dict):
        return "; ".join(f"{k}: {_diff(live.get(k), golden.get(k))}" for k in sorted(set(live) | set(golden))
                         if live.get(k) != golden.get(k))
    if isinstance(live, list) and isinstance(golden, list) and len(live) == len(golden) == 2:
        return _diff(live[1], golden[1]) if live[0] == golden[0] else f"type {live[0]} != {golden[0]}"
    return f"{live!r} != {golden!r}"
