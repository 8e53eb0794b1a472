"""Turn a UI-format workflow (what ComfyUI saves and what example_workflows/ ships) into API format.

ComfyUI converts in the browser (app.graphToPrompt); this re-implements the widget-to-input mapping from
/object_info so the shipped files themselves are what the e2e tests run.
"""

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
MUTED, BYPASSED = 2, 4


class WorkflowError(ValueError):
    pass


def _is_widget(spec) -> bool:
    kind, opts = spec[0], (spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {})
    if opts.get("forceInput"):
        return False
    return isinstance(kind, list) or kind in WIDGET_TYPES


def _has_control_widget(name: str, spec) -> bool:
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if "control_after_generate" in opts:
        return bool(opts["control_after_generate"])
    return spec[0] == "INT" and name in ("seed", "noise_seed")


def _has_upload_widget(spec) -> bool:
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return bool(opts.get("image_upload") or opts.get("video_upload") or opts.get("audio_upload"))


def _ordered_inputs(info: dict):
    for section in ("required", "optional"):
        yield from info.get("input", {}).get(section, {}).items()


def _resolve_link(link_id, links: dict, nodes: dict):
    """Follow Reroute nodes back to the real source; returns [src_id, slot] or a primitive's value."""
    src_id, src_slot = links[link_id][1], links[link_id][2]
    src = nodes[src_id]
    while src["type"] == "Reroute":
        upstream = src["inputs"][0].get("link")
        if upstream is None:
            raise WorkflowError(f"Reroute {src_id} is not connected")
        src_id, src_slot = links[upstream][1], links[upstream][2]
        src = nodes[src_id]
    if src["type"] == "PrimitiveNode":
        return ("value", src["widgets_values"][0])
    if src.get("mode") == MUTED:
        return None
    return ("link", [str(src_id), src_slot])


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    if "nodes" not in workflow:
        raise WorkflowError("not a UI-format workflow (no 'nodes')")
    if workflow.get("definitions", {}).get("subgraphs"):
        raise WorkflowError("subgraphs are not supported by this converter")
    nodes = {node["id"]: node for node in workflow["nodes"]}
    links = {link[0]: link for link in workflow.get("links", [])}
    api = {}
    for node_id, node in nodes.items():
        kind = node["type"]
        if kind in FRONTEND_ONLY or node.get("mode") == MUTED:
            continue
        if node.get("mode") == BYPASSED:
            raise WorkflowError(f"node {node_id} ({kind}) is bypassed; bypass is not supported here")
        if kind not in object_info:
            raise WorkflowError(f"node {node_id}: unknown node type {kind!r} (missing custom node?)")
        info = object_info[kind]
        linked = {inp["name"]: inp.get("link") for inp in node.get("inputs", []) if inp.get("link") is not None}
        values = node.get("widgets_values", [])
        by_name = values if isinstance(values, dict) else None
        position = 0
        inputs = {}
        for name, spec in _ordered_inputs(info):
            widget_value = None
            if _is_widget(spec):
                if by_name is not None:
                    widget_value = by_name.get(name)
                else:
                    if position >= len(values):
                        if name in info.get("input", {}).get("optional", {}):
                            continue  # saved before this optional widget existed: the frontend uses its default
                        raise WorkflowError(f"node {node_id} ({kind}): no widget value for {name!r}")
                    widget_value = values[position]
                    position += 1 + _has_control_widget(name, spec) + _has_upload_widget(spec)
            if name in linked:
                resolved = _resolve_link(linked[name], links, nodes)
                if resolved is None:
                    continue
                inputs[name] = resolved[1]
            elif widget_value is not None:
                inputs[name] = widget_value
        api[str(node_id)] = {"class_type": kind, "inputs": inputs,
                             "_meta": {"title": node.get("title") or info.get("display_name", kind)}}
    return api


def lighten_for_cpu(graph: dict, steps: int = 2, latent_size: int = 64) -> dict:
    """Shrink a converted shipped graph for CPU tests: sampler steps and empty-latent size only; every other
    node, widget and link stays as shipped. Returns {node_id: original values} so tests can assert them."""
    shipped = {}
    for node_id, node in graph.items():
        inputs = node["inputs"]
        if node["class_type"] in ("KSampler", "KSamplerAdvanced") and isinstance(inputs.get("steps"), int):
            shipped[node_id] = {"steps": inputs["steps"]}
            inputs["steps"] = min(inputs["steps"], steps)
        elif node["class_type"] == "EmptyLatentImage":
            shipped[node_id] = {"width": inputs["width"], "height": inputs["height"]}
            inputs.update(width=latent_size, height=latent_size)
    return shipped
