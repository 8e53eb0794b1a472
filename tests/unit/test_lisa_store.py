"""LISA folders: recognised by config, fetched only when asked (with the .bin shards LISA ships), offline."""

import json

import pytest

from genassist.mllm.model_store import ModelMissingError
from genassist.segmentation.lisa_store import is_lisa_folder, resolve_lisa, resolve_vision_tower


def fake_downloader(calls):
    def download(repo_id, local_dir, allow_patterns):
        calls.append((repo_id, allow_patterns))
        from pathlib import Path

        folder = Path(local_dir)
        (folder / "config.json").write_text(json.dumps({"architectures": ["LISAForCausalLM"], "mm_hidden_size": 1024}))
        (folder / "tokenizer.model").write_bytes(b"sp")
        (folder / "tokenizer.json").write_text("{}")
        (folder / "pytorch_model.bin").write_bytes(b"w")

    return download


def test_download_only_when_asked_and_with_bin_shards(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with pytest.raises(ModelMissingError, match="huggingface-cli download xinlai/LISA-7B-v1"):
        resolve_lisa("LISA-7B-v1", [str(tmp_path)])
    calls = []
    folder = resolve_lisa("LISA-7B-v1", [str(tmp_path)], download=True, downloader=fake_downloader(calls))
    assert folder == str(tmp_path / "LISA-7B-v1") and is_lisa_folder(folder)
    assert calls[0][0] == "xinlai/LISA-7B-v1" and "*.bin" in calls[0][1]
    assert resolve_lisa("LISA-7B-v1", [str(tmp_path)], download=True, downloader=fake_downloader(calls)) == folder
    assert len(calls) == 1  # a complete copy is never fetched again
    tower = resolve_vision_tower("clip-vit-large-patch14", [str(tmp_path)], download=True,
                                 downloader=fake_downloader(calls))
    assert calls[1][0] == "openai/clip-vit-large-patch14" and "*.bin" not in calls[1][1]
    assert tower.endswith("clip-vit-large-patch14")


def test_offline_forbids_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelMissingError, match="HF_HUB_OFFLINE=1 forbids"):
        resolve_lisa("LISA_Plus_7b", [str(tmp_path)], download=True, downloader=lambda **kw: pytest.fail("net"))
    with pytest.raises(ModelMissingError, match="CLIP vision tower") as error:
        resolve_vision_tower("clip-vit-large-patch14", [str(tmp_path)])
    target = tmp_path / "clip-vit-large-patch14"
    assert "not inside LISA checkpoints" in str(error.value)
    assert (f"huggingface-cli download openai/clip-vit-large-patch14 --include '*.json' '*.safetensors' "
            f"--local-dir \"{target}\"") in str(error.value)


def test_is_lisa_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava", "mm_hidden_size": 1024}))
    assert not is_lisa_folder(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava", "mm_hidden_size": 1024, "out_dim": 256}))
    assert is_lisa_folder(str(tmp_path))


def test_incomplete_folders_name_what_is_missing_and_where(tmp_path):
    lisa = tmp_path / "LISA-7B-v1"
    lisa.mkdir()
    (lisa / "config.json").write_text(json.dumps({"architectures": ["LISAForCausalLM"]}))
    (lisa / "pytorch_model.bin").write_bytes(b"w")
    with pytest.raises(ModelMissingError) as error:  # no tokenizer: never taken for a complete copy
        resolve_lisa("LISA-7B-v1", [str(tmp_path)])
    assert "incomplete" in str(error.value) and "tokenizer" in str(error.value) and str(lisa) in str(error.value)
    tower = tmp_path / "clip-vit-large-patch14"
    tower.mkdir()
    (tower / "config.json").write_text("{}")
    (tower / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "model-1.safetensors"}}))
    with pytest.raises(ModelMissingError, match=r"CLIP vision tower folder .*incomplete, missing: model-1\.safetensors"):
        resolve_vision_tower("clip-vit-large-patch14", [str(tmp_path)])
    (tower / "model-1.safetensors").write_bytes(b"w")  # a tower needs no tokenizer
    assert resolve_vision_tower("clip-vit-large-patch14", [str(tmp_path)]) == str(tower)


def test_no_search_folder_and_bad_names_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with pytest.raises(ModelMissingError, match="no folder for LISA models is configured"):
        resolve_lisa("LISA-7B-v1", [])
    with pytest.raises(ValueError, match="invalid LISA folder name"):
        resolve_lisa("../LISA-7B-v1", [str(tmp_path)])
    with pytest.raises(ModelMissingError, match="not in the download list of CLIP vision tower folders"):
        resolve_vision_tower("my-clip", [str(tmp_path)], download=True, downloader=lambda **kw: pytest.fail("net"))
