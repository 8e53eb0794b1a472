"""Node definitions in a form that compares across node APIs and hosts.

V1 and V3 nodes describe the same widget two ways (a combo is ``[options, {...}]`` in V1 and
``["COMBO", {"options": ...}]`` in V3), and some option lists are the host's or the disk's, not the node's
(core's samplers and schedulers, the model files present). ``comparable`` keeps what a saved workflow or a
user depends on: ids, names, order, types, defaults, bounds, tooltips, descriptions, outputs."""

KEPT = ("name", "display_name", "category", "description", "input", "input_order", "output", "output_name",
        "output_is_list", "output_tooltips", "output_node")
# option lists that are not the node's own: the host's samplers/schedulers, the files found on disk
HOST_OPTIONS = {"sampler_name": "<host samplers>", "scheduler": "<host schedulers>"}
FILE_OPTIONS = {("GenAssist_LoadDiffRIR", "model_name"), ("GenAssist_LoadLISA", "model"),
                ("GenAssist_LoadLISA", "vision_tower"), ("GenAssist_LoadMLLM", "model"),
                ("GenAssist_LoadSAM", "model_name"), ("GenAssist_LoadSAM3", "model")}


def _widget(node_id: str, name: str, spec) -> list:
    kind, opts = spec[0], dict(spec[1]) if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if isinstance(kind, list):  # V1 combo
        kind, opts["options"] = "COMBO", kind
    for flag in ("multiselect", "multiline"):  # V3 always writes these; V1 left them out when false
        if opts.get(flag) is False:
            del opts[flag]
    if kind == "COMBO":
        if name in HOST_OPTIONS:
            opts["options"] = HOST_OPTIONS[name]
        elif (node_id, name) in FILE_OPTIONS:
            opts["options"] = "<files>"
    return [kind, opts]


def comparable(node_id: str, info: dict) -> dict:
    out = {key: info.get(key) for key in KEPT}
    inputs = {}
    for section, entries in info.get("input", {}).items():
        if section == "hidden":
            inputs[section] = {name: spec if isinstance(spec, str) else spec[0] for name, spec in entries.items()}
        else:
            inputs[section] = {name: _widget(node_id, name, spec) for name, spec in entries.items()}
    out["input"] = inputs
    out["output_tooltips"] = list(out["output_tooltips"] or [])
    return out
