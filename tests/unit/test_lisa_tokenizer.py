"""LISA's tokenizer gives the ids LISA's own (slow, transformers 4.31) tokenizer gave, around [SEG],
<im_start>, <im_end> and the newline after it, in both of its modes.

Golden ids (tests/unit/golden/lisa_tokenizer_ids_{legacy,nonlegacy}.json) were produced once, outside this
repository, with transformers 4.31.0 (LISA's pinned release; only its slow LlamaTokenizer was used) on
ComfyUI's bundled LLaMA SentencePiece model (comfy/text_encoders/t5_pile_tokenizer/tokenizer.model):
``LlamaTokenizer.from_pretrained(dir[, legacy=False])``, ``pad_token = unk_token``, ``add_tokens("[SEG]")``,
``add_tokens(["<im_start>", "<im_end>"], special_tokens=True)`` as LISA's chat.py does, then ``save_pretrained``
and ``tokenizer(text).input_ids`` / ``tokenizer(text, add_special_tokens=False).input_ids`` for each text.
"""

import json
import shutil
from pathlib import Path

import pytest

from genassist.segmentation.lisa_tokenizer import LisaTokenizer, load_lisa_tokenizer
from tiny_models import lisa as tiny_lisa

GOLDEN = Path(__file__).parent / "golden"


def lisa_folder(tmp_path: Path, legacy: bool) -> Path:
    folder = tmp_path / ("legacy" if legacy else "nonlegacy")
    tiny_lisa.write_tokenizer(folder, legacy=legacy)
    return folder


@pytest.mark.parametrize("legacy", [True, False])
def test_ids_match_lisas_slow_tokenizer(tmp_path, legacy):
    golden = json.loads((GOLDEN / f"lisa_tokenizer_ids_{'legacy' if legacy else 'nonlegacy'}.json").read_text())
    assert golden["legacy"] is legacy and golden["transformers"] == "4.31.0"
    tokenizer = load_lisa_tokenizer(str(lisa_folder(tmp_path, legacy)))
    assert isinstance(tokenizer, LisaTokenizer) and len(tokenizer) == golden["len"]
    assert tokenizer("[SEG]", add_special_tokens=False).input_ids == [golden["seg_id"]]
    for case in golden["cases"]:
        assert tokenizer(case["text"]).input_ids == case["ids"], case["text"]
        assert tokenizer(case["text"], add_special_tokens=False).input_ids == case["no_special"], case["text"]


def test_the_newline_after_im_end_is_eaten_as_lisa_did(tmp_path):
    tokenizer = load_lisa_tokenizer(str(lisa_folder(tmp_path, True)))
    ids = tokenizer("<im_end>\nWhat is it?", add_special_tokens=False).input_ids
    assert ids[0] == tokenizer.convert_tokens_to_ids("<im_end>")
    assert tokenizer.sp.id_to_piece(ids[1]) == "▁What", "4.31 stripped the newline after an added token"
    assert tokenizer.decode([tokenizer.bos_token_id, *ids, tokenizer.eos_token_id],
                            skip_special_tokens=True) == "<im_end> What is it?"


def test_folder_without_sentencepiece_model_falls_back_with_a_warning(tmp_path, caplog):
    folder = tmp_path / "fast_only"
    shutil.copytree(tiny_lisa.tokenizer_dir(), folder)
    with caplog.at_level("WARNING"):
        tokenizer = load_lisa_tokenizer(str(folder))
    assert tokenizer.is_fast and "no tokenizer.model" in caplog.text and "[SEG]" in caplog.text
