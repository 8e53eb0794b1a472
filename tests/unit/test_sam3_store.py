"""SAM 3 folders and queries without a model: completeness by file name, atomic download only when asked,
offline, and the noun-phrase cut of long requests."""

import json
from pathlib import Path

import pytest

from genassist.segmentation.noun_phrase import MAX_WORDS, noun_phrase
from genassist.segmentation.sam3 import phrase_for
from genassist.segmentation.sam3_store import Sam3MissingError, is_sam3_folder, missing_files, resolve_sam3

FILES = {"config.json": json.dumps({"model_type": "sam3"}), "model.safetensors": "w",
         "processor_config.json": "{}", "tokenizer.json": "{}", "tokenizer_config.json": "{}"}


def write_folder(folder: Path, skip=()):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in FILES.items():
        if name not in skip:
            (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "processor_config.json", "tokenizer.json"])
def test_a_missing_file_is_named_with_its_folder(tmp_path, name):
    folder = write_folder(tmp_path / "sam3", skip=(name,))
    assert [m.split(" ")[0] for m in missing_files(str(folder))] == [name]
    with pytest.raises(Sam3MissingError) as error:
        resolve_sam3("sam3", [str(tmp_path)])
    assert name in str(error.value) and str(folder) in str(error.value) and "huggingface-cli download" in str(error.value)


def test_a_sharded_folder_names_the_missing_shard(tmp_path):
    folder = write_folder(tmp_path / "mine", skip=("model.safetensors",))
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "model-00001-of-00002.safetensors").write_text("w")
    assert missing_files(str(folder)) == ["model-00002-of-00002.safetensors"]
    with pytest.raises(Sam3MissingError, match="model-00002-of-00002.safetensors"):
        resolve_sam3("mine", [str(tmp_path)])


def test_complete_folder_is_found_and_recognised(tmp_path):
    write_folder(tmp_path / "b" / "sam3")
    assert resolve_sam3("sam3", [str(tmp_path / "a"), str(tmp_path / "b")]) == str(tmp_path / "b" / "sam3")
    assert is_sam3_folder(str(tmp_path / "b" / "sam3")) and not is_sam3_folder(str(tmp_path))


def test_no_folder_names_the_search_paths(tmp_path):
    with pytest.raises(Sam3MissingError, match=r"no SAM 3 folder 'sam3' in .*gated"):
        resolve_sam3("sam3", [str(tmp_path)])
    with pytest.raises(ValueError, match="invalid SAM 3 folder name"):
        resolve_sam3("../sam3", [str(tmp_path)])


def test_download_is_atomic_only_when_asked_and_never_offline(tmp_path, monkeypatch):
    calls = []

    def downloader(repo_id, local_dir, allow_patterns):
        calls.append((repo_id, allow_patterns, Path(local_dir).name))
        write_folder(Path(local_dir))

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Sam3MissingError, match="HF_HUB_OFFLINE=1 forbids"):
        resolve_sam3("sam3", [str(tmp_path)], download=True, downloader=downloader)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    with pytest.raises(Sam3MissingError, match="not in the download list of SAM 3 folders"):
        resolve_sam3("mine", [str(tmp_path)], download=True, downloader=downloader)
    folder = resolve_sam3("sam3", [str(tmp_path)], download=True, downloader=downloader)
    assert folder == str(tmp_path / "sam3") and not missing_files(folder)
    assert calls[0][0] == "facebook/sam3" and "*.safetensors" in calls[0][1] and calls[0][2].startswith(".sam3.")
    assert resolve_sam3("sam3", [str(tmp_path)], download=True, downloader=downloader) == folder
    assert len(calls) == 1  # a complete copy is never fetched again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sam3"]  # no temp folder left behind


def test_an_incomplete_or_failed_download_installs_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")

    def partial(repo_id, local_dir, allow_patterns):
        write_folder(Path(local_dir), skip=("model.safetensors",))

    def refused(repo_id, local_dir, allow_patterns):
        raise PermissionError("401 Client Error: gated repository")

    with pytest.raises(Sam3MissingError, match="incomplete.*model.safetensors"):
        resolve_sam3("sam3", [str(tmp_path)], download=True, downloader=partial)
    with pytest.raises(Sam3MissingError, match="401.*accept its licence.*HF_TOKEN"):
        resolve_sam3("sam3", [str(tmp_path)], download=True, downloader=refused)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("query, phrase", [
    ("vase", "vase"),
    ("The red car.", "red car"),
    ("segment the vase that stands on the table", "vase"),
    ("Please find all of the chairs which are empty", "chairs"),
    ("show me the dog, the one on the left", "dog"),
    ("select every person who is wearing a hat", "person"),
    ("the left chair", "left chair"),
    ("a very big old wooden brown kitchen table with legs", "very big old wooden brown kitchen"),
    ("the", "the"),  # nothing left: the request as is
])
def test_noun_phrase_cut(query, phrase):
    assert noun_phrase(query) == phrase
    assert len(noun_phrase(query).split()) <= MAX_WORDS


def test_query_mode_as_is_keeps_the_text():
    assert phrase_for("segment  the vase that stands", "as is") == "segment the vase that stands"
    assert phrase_for("segment the vase that stands", "noun phrase") == "vase"
    with pytest.raises(ValueError, match="query mode"):
        phrase_for("vase", "sentence")
