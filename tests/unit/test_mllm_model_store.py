"""Model folders: completeness, offline-first resolution, atomic download (with a local fake downloader)."""

import json

import pytest

from genassist.mllm.answer_cache import AnswerCache, answer_key
from genassist.mllm.backend import GenerationSettings, Message
from genassist.mllm.model_store import ModelMissingError, missing_files, resolve_model

NAME = "Qwen2.5-VL-3B-Instruct"


def write_model(folder, shards=("model.safetensors",), index=False, tokenizer=True):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}")
    for shard in shards:
        (folder / shard).write_bytes(b"x")
    if index:
        (folder / "model.safetensors.index.json").write_text(json.dumps(
            {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    if tokenizer:
        (folder / "tokenizer.json").write_text("{}")


class FakeDownloader:
    def __init__(self, fail=False, incomplete=False):
        self.calls, self.fail, self.incomplete = [], fail, incomplete

    def __call__(self, repo_id, local_dir, **kwargs):
        from pathlib import Path

        self.calls.append((repo_id, local_dir))
        write_model(Path(local_dir), shards=("model-00001-of-00002.safetensors",), index=True)
        if self.fail:
            raise ConnectionError("network dropped")
        if not self.incomplete:
            (Path(local_dir) / "model-00002-of-00002.safetensors").write_bytes(b"x")


def test_complete_local_copy_never_downloads(tmp_path):
    write_model(tmp_path / "b" / NAME)
    fake = FakeDownloader()
    found = resolve_model(NAME, [str(tmp_path / "a"), str(tmp_path / "b")], download=True, downloader=fake)
    assert found == str(tmp_path / "b" / NAME) and fake.calls == []


def test_an_unreadable_index_is_named_not_raised(tmp_path):
    write_model(tmp_path / NAME, index=True)
    (tmp_path / NAME / "model.safetensors.index.json").write_text('{"weight_map": ')  # cut off mid-download
    assert missing_files(str(tmp_path / NAME)) == ["model.safetensors.index.json (unreadable)"]


def test_missing_shard_is_reported_by_name(tmp_path):
    write_model(tmp_path / NAME, shards=("model-00001-of-00002.safetensors",), index=True)
    assert missing_files(str(tmp_path / NAME)) == ["model-00002-of-00002.safetensors"]
    with pytest.raises(ModelMissingError, match="incomplete, missing: model-00002-of-00002.*huggingface-cli "
                                                "download Qwen/Qwen2.5-VL-3B-Instruct"):
        resolve_model(NAME, [str(tmp_path)])


def test_missing_model_error_names_folder_and_files(tmp_path):
    with pytest.raises(ModelMissingError) as error:
        resolve_model(NAME, [str(tmp_path)])
    message = str(error.value)
    assert str(tmp_path) in message and "config.json" in message and "download" in message


def test_download_is_atomic_and_installs_complete_copy(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    fake = FakeDownloader()
    folder = resolve_model(NAME, [str(tmp_path)], download=True, downloader=fake)
    assert folder == str(tmp_path / NAME) and missing_files(folder) == []
    assert fake.calls[0][0] == "Qwen/Qwen2.5-VL-3B-Instruct" and fake.calls[0][1] != folder
    assert sorted(p.name for p in tmp_path.iterdir()) == [NAME]  # no temp folder left behind


@pytest.mark.parametrize("fake", [FakeDownloader(fail=True), FakeDownloader(incomplete=True)])
def test_failed_download_leaves_nothing(tmp_path, monkeypatch, fake):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises((ConnectionError, ModelMissingError)):
        resolve_model(NAME, [str(tmp_path)], download=True, downloader=fake)
    assert list(tmp_path.iterdir()) == []


def test_incomplete_copy_is_replaced_by_download(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    write_model(tmp_path / NAME, tokenizer=False)
    folder = resolve_model(NAME, [str(tmp_path)], download=True, downloader=FakeDownloader())
    assert missing_files(folder) == []


def test_offline_forbids_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake = FakeDownloader()
    with pytest.raises(ModelMissingError, match="HF_HUB_OFFLINE"):
        resolve_model(NAME, [str(tmp_path)], download=True, downloader=fake)
    assert fake.calls == []


def test_unknown_names_are_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(ModelMissingError, match="not in the download list"):
        resolve_model("some-model", [str(tmp_path)], download=True, downloader=FakeDownloader())


@pytest.mark.parametrize("name", ["../x", "", ".hidden"])
def test_invalid_names(tmp_path, name):
    with pytest.raises(ValueError):
        resolve_model(name, [str(tmp_path)])


class _Backend:
    family, name, revision = "openai", "m", "r1"


def test_answer_cache_key_covers_every_input(tmp_path):
    from PIL import Image

    messages = [Message("user", "x", [Image.new("RGB", (4, 4), (1, 2, 3))])]
    base = answer_key(_Backend(), messages, GenerationSettings(seed=1))
    assert base == answer_key(_Backend(), messages, GenerationSettings(seed=1))
    assert base != answer_key(_Backend(), messages, GenerationSettings(seed=2))
    other_image = [Message("user", "x", [Image.new("RGB", (4, 4), (1, 2, 4))])]
    assert base != answer_key(_Backend(), other_image, GenerationSettings(seed=1))
    revised = _Backend()
    revised.revision = "r2"
    assert base != answer_key(revised, messages, GenerationSettings(seed=1))
    cache = AnswerCache(str(tmp_path))
    assert cache.get(base) is None
    cache.put(base, "answer")
    assert cache.get(base) == "answer"


def test_folders_where_lists_one_kind_across_search_folders(tmp_path):
    from genassist.mllm.model_store import folders_where

    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first / "kept", second / "kept", second / "other", second / ".kept.download-1"):
        folder.mkdir(parents=True)
    (first / "file-kept").write_text("not a folder")
    seen = []

    def accept(path):
        seen.append(path)
        return path.endswith("kept")

    assert folders_where([str(first), str(tmp_path / "absent"), str(second)], accept) == ["kept"]
    assert str(second / ".kept.download-1") not in seen  # a download in progress is never offered
