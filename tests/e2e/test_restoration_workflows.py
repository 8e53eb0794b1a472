"""The shipped restoration workflows run unmodified through the real ComfyUI server (tiny models)."""


import numpy as np
from PIL import Image

from harness.graphs import load_example, pixels, saved_image


def _photo(width: int = 64, height: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    rgb = np.stack([80 + 2 * xx, 60 + 2 * yy, 200 - xx - yy], -1)
    return np.clip(rgb + (7 * np.sin(xx / 3.0) * np.cos(yy / 4.0))[..., None], 0, 255).astype(np.uint8)


def test_inpaint_then_harmonize_workflow(comfy_server, tiny, tmp_path):
    assert tiny.sd15() == "v1-5-pruned-emaonly.safetensors"
    rgb = _photo()
    alpha = np.full((64, 64), 255, np.uint8)
    alpha[16:48, 20:52] = 0  # LoadImage: transparent = mask 1 = region to inpaint
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "inpaint_example.png")
    comfy_server.upload_image(tmp_path / "inpaint_example.png")

    ui, graph = load_example("inpaint_harmonize_seams.json", comfy_server)
    assert any(node["class_type"] == "GenAssist_HarmonizeSeams" for node in graph.values())
    out = pixels(saved_image(comfy_server, comfy_server.run(graph, timeout=900, workflow=ui), graph))

    assert out.shape == (64, 64, 3)
    keep = alpha == 255
    # SaveImage truncates float*255, so a preserved 8-bit value may come back one lower
    assert np.abs(out[keep] - rgb[keep].astype(int)).max() <= 1
    assert out[~keep].std() > 0


def test_outpaint_then_diffrir_restore_workflow(comfy_server, tiny, tmp_path):
    assert tiny.sd15() == "v1-5-pruned-emaonly.safetensors"
    ui, graph = load_example("outpaint_diffrir_restore.json", comfy_server)
    loader = next(n for n in ui["nodes"] if n["type"] == "GenAssist_LoadDiffRIR")
    assert tiny.diffrir(scale=1) == loader["widgets_values"][0]
    rgb = _photo()
    Image.fromarray(rgb, "RGB").save(tmp_path / "outpaint_example.png")
    comfy_server.upload_image(tmp_path / "outpaint_example.png")

    pad = next(node for node in graph.values() if node["class_type"] == "ImagePadForOutpaint")
    assert pad["inputs"]["right"] == 128
    out = pixels(saved_image(comfy_server, comfy_server.run(graph, timeout=900, workflow=ui), graph))

    assert out.shape == (64, 64 + 128, 3)
    assert np.abs(out[:, :64] - rgb.astype(int)).max() <= 1
    # the new strip is the restored generation, not the grey canvas the pad node filled in
    assert np.abs(out[:, 64:] - 127).mean() > 1 and out[:, 64:].std() > 0
