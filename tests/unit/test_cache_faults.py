"""Faults around the answer cache and model revisions, in real processes: damaged entries, a write that hits the
file-size limit (what a full disk looks like to the writer), two processes writing one key, a model folder
replaced by a same-architecture copy."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genassist.mllm.answer_cache import AnswerCache
from genassist.mllm.model_store import folder_revision

TESTS = Path(__file__).resolve().parents[1]
KEY = "ab" + "0" * 62
# The child processes import the pack as the tests do.
PRELUDE = ("import sys; sys.path.append(sys.argv[1]); from harness.pack import register_pack; register_pack(); "
           "from genassist.mllm.answer_cache import AnswerCache; cache = AnswerCache(sys.argv[2]); ")


def _child(code: str, cache_dir: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PRELUDE + code, str(TESTS), str(cache_dir), *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("damage", [b"", b'{"answer": "cut of', b"\x00\xff garbage", b'["answer"]',
                                    b'{"answer": 5}', b'{"other": "x"}'],
                         ids=["zero-length", "truncated", "garbage", "a list", "not text", "no answer"])
def test_a_damaged_entry_is_a_miss_dropped_and_recomputed(tmp_path, damage, caplog):
    cache = AnswerCache(str(tmp_path))
    entry = Path(cache._path(KEY))
    entry.parent.mkdir(parents=True)
    entry.write_bytes(damage)
    assert cache.get(KEY) is None
    assert not entry.exists(), "the damaged entry stays behind"
    assert "dropping the unreadable cached answer" in caplog.text
    cache.put(KEY, "a red fox")
    assert cache.get(KEY) == "a red fox"


def test_a_write_past_the_file_size_limit_loses_nothing(tmp_path):
    """RLIMIT_FSIZE makes the write fail as a full disk does (EFBIG instead of ENOSPC): the node still gets its
    answer, the earlier entry is intact and no temporary file is left in the cache."""
    AnswerCache(str(tmp_path)).put(KEY, "the earlier answer")
    code = ("import resource, signal; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1])); "
            f"cache.put({KEY!r}, 'x' * 100000); print('returned')")
    done = _child(code, tmp_path)
    assert done.returncode == 0 and "returned" in done.stdout, done.stderr
    assert "could not cache the answer" in done.stderr
    assert AnswerCache(str(tmp_path)).get(KEY) == "the earlier answer"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [f"{KEY}.json"]


def test_two_processes_writing_one_key_never_leave_a_torn_entry(tmp_path):
    """Two writers race on one key with answers of different lengths while this process reads: every read is
    one writer's whole answer."""
    answers = {"a": "a" * 300_000, "b": "b" * 7}
    code = ("import time; end = time.monotonic() + 3; n = 0\n"
            "while time.monotonic() < end: cache.put(sys.argv[3], sys.argv[4] * int(sys.argv[5])); n += 1\n"
            "print(n)")
    writers = [subprocess.Popen([sys.executable, "-c", PRELUDE + code, str(TESTS), str(tmp_path), KEY, letter,
                                 str(len(text))], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for letter, text in answers.items()]
    cache, reads = AnswerCache(str(tmp_path)), []
    while any(w.poll() is None for w in writers):
        reads.append(cache.get(KEY))
        time.sleep(0.001)
    outputs = [w.communicate(timeout=30) for w in writers]
    assert all(w.returncode == 0 for w in writers), outputs
    assert all(int(out) > 10 for out, _ in outputs), outputs  # both really wrote, many times
    seen = {r for r in reads if r is not None}
    assert seen and seen <= set(answers.values()), {len(r) for r in seen}
    entries = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p.name for p in entries] == [f"{KEY}.json"]  # no temporary file left
    assert json.loads(entries[0].read_text())["answer"] in answers.values()


def test_a_model_folder_replaced_by_a_same_size_copy_gets_a_new_revision(tmp_path):
    """A fine-tune of the same architecture has every file size equal: the revision (part of the answer cache's
    key) still changes when its weights are copied over the folder, so no stale answer is served."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    weights = folder / "model.safetensors"
    weights.write_bytes(b"\x01" * 1024)
    os.utime(weights, ns=(1_700_000_000_000_000_000,) * 2)
    before = folder_revision(str(folder))
    assert folder_revision(str(folder)) == before  # stable while nothing changes
    replacement = tmp_path / "finetune.safetensors"
    replacement.write_bytes(b"\x02" * 1024)
    os.replace(replacement, weights)
    assert folder_revision(str(folder)) != before
