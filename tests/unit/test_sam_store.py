"""SAM files: atomic, checksum-verified downloads from a loopback server; offline and missing-file errors."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from genassist.segmentation.sam_store import SamMissingError, download_file, md5_prefix_ok, resolve_sam


@pytest.fixture
def http_server():
    files = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body, claimed = files.get(self.path, (None, 0))
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(claimed or len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield files, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_lands_atomically(http_server, tmp_path):
    files, base = http_server
    files["/ok.pth"] = (b"weights" * 1000, 0)
    target = tmp_path / "sams" / "ok.pth"
    download_file(f"{base}/ok.pth", str(target))
    assert target.read_bytes() == b"weights" * 1000
    assert [p.name for p in target.parent.iterdir()] == ["ok.pth"]  # no temp file left behind


def test_truncated_or_wrong_checksum_downloads_install_nothing(http_server, tmp_path, monkeypatch):
    files, base = http_server
    files["/short.pth"] = (b"abc", 10)  # the server claims 10 bytes, sends 3
    with pytest.raises(OSError):
        download_file(f"{base}/short.pth", str(tmp_path / "short.pth"))
    assert list(tmp_path.iterdir()) == []
    name = "sam_vit_b_01ec64.pth"
    files["/" + name] = (b"not the real file", 0)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with pytest.raises(OSError, match="checksum"):
        resolve_sam(name, None, [str(tmp_path)], download=True, url_for=lambda n: f"{base}/{n}")
    assert list(tmp_path.iterdir()) == []


def test_official_names_carry_their_md5_prefix(tmp_path):
    data = b"segment anything"
    prefix = hashlib.md5(data, usedforsecurity=False).hexdigest()[:6]
    path = tmp_path / "x.pth"
    path.write_bytes(data)
    assert md5_prefix_ok(str(path), f"sam_vit_b_{prefix}.pth")
    assert not md5_prefix_ok(str(path), "sam_vit_b_01ec64.pth")


def test_missing_offline_and_unofficial_errors(tmp_path, monkeypatch):
    existing = tmp_path / "mine.safetensors"
    existing.write_bytes(b"x")
    assert resolve_sam("mine.safetensors", str(existing), [str(tmp_path)]) == str(existing)
    with pytest.raises(SamMissingError, match=r"sam_vit_h_4b8939\.pth.*dl\.fbaipublicfiles\.com"):
        resolve_sam("sam_vit_h_4b8939.pth", None, [str(tmp_path)], download=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SamMissingError, match="HF_HUB_OFFLINE=1 forbids"):
        resolve_sam("sam_vit_h_4b8939.pth", None, [str(tmp_path)], download=True,
                    url_for=lambda n: pytest.fail("no network when offline"))
    with pytest.raises(SamMissingError, match="not an official SAM file"):
        resolve_sam("other.pth", None, [str(tmp_path)], download=True)


def test_the_hugging_face_safetensors_file_downloads_and_is_checked(http_server, tmp_path, monkeypatch):
    import torch
    from safetensors.torch import save_file

    from genassist.segmentation.sam_model import HUB_FILES
    from genassist.segmentation.sam_store import is_sam_safetensors

    files, base = http_server
    name = "sam_vit_b_01ec64.safetensors"
    assert HUB_FILES[name].startswith("https://huggingface.co/") and HUB_FILES[name].endswith("/" + name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    files["/" + name] = (b"<html>not found</html>", 0)
    with pytest.raises(OSError, match="checksum"):
        resolve_sam(name, None, [str(tmp_path)], download=True, url_for=lambda n: f"{base}/{n}")
    assert list(tmp_path.iterdir()) == []
    good = tmp_path / "good.safetensors"
    save_file({"image_encoder.patch_embed.proj.weight": torch.zeros(2, 3, 16, 16)}, str(good))
    files["/" + name] = (good.read_bytes(), 0)
    good.unlink()
    path = resolve_sam(name, None, [str(tmp_path / "sams")], download=True, url_for=lambda n: f"{base}/{n}")
    assert path.endswith(name) and is_sam_safetensors(path)
