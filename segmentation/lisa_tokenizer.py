"""LISA's tokenizer, as LISA ran it: the slow (SentencePiece) Llama tokenizer of transformers 4.31.

LISA loads it with ``use_fast=False`` and adds ``[SEG]``, ``<im_start>``, ``<im_end>``. That tokenizer
split the text at added tokens and stripped the whitespace on both sides of them (its default for tokens
added by ``add_tokens``), then SentencePiece-encoded each piece with its own leading '▁'. So
"<im_end>\\nWhat" is ``<im_end> ▁What`` and "is [SEG]." is ``▁is [SEG] ▁.``. Fast tokenizers and the slow
ones of later transformers releases keep that whitespace ("<im_end> ▁ <0x0A> What"), which LISA never saw
in training; transformers 5 has no slow Llama tokenizer at all. Hence this small reader of the folder's
``tokenizer.model`` + ``added_tokens.json``, with the subset of the tokenizer API the pack uses.
"""

import logging
import os
import re
from dataclasses import dataclass

from ..mllm.json_limits import loads

log = logging.getLogger(__name__)

SENTENCEPIECE_FILE = "tokenizer.model"


@dataclass
class Encoding:
    input_ids: list[int]


def _read_json(path: str, kind: type):
    """A tokenizer file's JSON value of the expected kind; ValueError naming the file otherwise."""
    with open(path, encoding="utf-8", errors="replace") as f:
        value = loads(f.read(), path, ValueError)
    if not isinstance(value, kind):
        raise ValueError(f"{path} must hold a JSON {kind.__name__}, got {type(value).__name__}: the LISA folder is "
                         "damaged; copy the file again from the checkpoint")
    return value


def _tokenizer_config(folder: str) -> dict:
    path = os.path.join(folder, "tokenizer_config.json")
    if not os.path.isfile(path):
        return {}
    return _read_json(path, dict)


def _token_id(path: str, token, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise ValueError(f"{path}: token {str(token)[:40]!r} has id {str(value)[:40]!r}, not a whole number: the "
                         "LISA folder is damaged; copy the file again from the checkpoint")
    return int(value)


def _added_tokens(folder: str, base_size: int) -> dict[str, int]:
    """Tokens added on top of the SentencePiece vocabulary (added_tokens.json, else tokenizer_config's
    added_tokens_decoder entries beyond the base vocabulary)."""
    path = os.path.join(folder, "added_tokens.json")
    if os.path.isfile(path):
        return {str(k): _token_id(path, k, v) for k, v in _read_json(path, dict).items()}
    path = os.path.join(folder, "tokenizer_config.json")
    decoder = _tokenizer_config(folder).get("added_tokens_decoder") or {}
    if not isinstance(decoder, dict) or not all(isinstance(e, dict) and "content" in e for e in decoder.values()):
        raise ValueError(f"{path}: added_tokens_decoder must map ids to {{\"content\": ...}} objects: the LISA "
                         "folder is damaged; copy the file again from the checkpoint")
    ids = {str(entry["content"]): _token_id(path, entry["content"], i) for i, entry in decoder.items()}
    return {token: i for token, i in ids.items() if i >= base_size}


class LisaTokenizer:
    """LISA's slow Llama tokenizer (legacy mode, BOS added, no EOS, pad = unk as LISA sets it)."""

    is_fast = False

    def __init__(self, folder: str):
        import sentencepiece

        self.sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(folder, SENTENCEPIECE_FILE))
        # 4.31 read 'legacy' from tokenizer_config.json, True when absent; null or false chose the new mode
        self.legacy = bool(_tokenizer_config(folder).get("legacy", True))
        self.added = _added_tokens(folder, self.sp.get_piece_size())
        self.added_by_id = {v: k for k, v in self.added.items()}
        self.bos_token_id, self.eos_token_id, self.unk_token_id = self.sp.bos_id(), self.sp.eos_id(), self.sp.unk_id()
        self.pad_token_id = self.unk_token_id
        self.bos_token, self.eos_token, self.unk_token = (self.sp.id_to_piece(i) for i in (
            self.bos_token_id, self.eos_token_id, self.unk_token_id))
        specials = {self.bos_token: self.bos_token_id, self.eos_token: self.eos_token_id,
                    self.unk_token: self.unk_token_id}
        self.unsplit = {**specials, **self.added}
        # longest first, so a token that contains another wins (the slow tokenizer's trie does the same)
        alternatives = sorted(self.unsplit, key=len, reverse=True)
        self._splitter = re.compile("(" + "|".join(re.escape(t) for t in alternatives) + ")")
        self.special_ids = set(specials.values())

    def __len__(self) -> int:
        return self.sp.get_piece_size() + len(self.added)

    def get_vocab(self) -> dict[str, int]:
        vocab = {self.sp.id_to_piece(i): i for i in range(self.sp.get_piece_size())}
        vocab.update(self.added)
        return vocab

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.unsplit[token] if token in self.unsplit else self.sp.piece_to_id(token)

    def _encode_piece(self, piece: str) -> list[int]:
        """Legacy: every piece gets SentencePiece's leading '▁'. Otherwise only the text's start does
        (the text was given a '▁' up front; later pieces lose the dummy '▁' unless they began with a space)."""
        if self.legacy:
            return self.sp.encode(piece)
        if piece.startswith("▁"):  # the text's start (4.31 tests the character, not the position)
            return self.sp.encode(piece[1:])
        pieces = self.sp.encode(piece, out_type=str)
        if not piece.startswith(" ") and pieces and pieces[0].startswith("▁"):
            pieces = ([pieces[0][1:]] if len(pieces[0]) > 1 else []) + pieces[1:]
        return [self.sp.piece_to_id(p) for p in pieces]

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        if not self.legacy:
            text = "▁" + text.replace("▁", " ")
        pieces = self._splitter.split(text)
        for i, piece in enumerate(pieces):
            if piece in self.added:  # added tokens eat the whitespace on both sides (bos/eos/unk do not)
                if i > 0:
                    pieces[i - 1] = pieces[i - 1].rstrip()
                if i + 1 < len(pieces):
                    pieces[i + 1] = pieces[i + 1].lstrip()
        ids = [self.bos_token_id] if add_special_tokens else []
        for i, piece in enumerate(pieces):
            if i % 2:  # re.split puts the matched tokens at odd positions
                ids.append(self.unsplit[piece])
            elif piece:
                ids.extend(self._encode_piece(piece))
        return ids

    def __call__(self, text: str, add_special_tokens: bool = True) -> Encoding:
        return Encoding(self.encode(text, add_special_tokens))

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """Runs of SentencePiece ids decoded together, added tokens as themselves, joined by spaces
        (the slow tokenizer's spaces_between_special_tokens)."""
        parts, run = [], []
        for i in (int(t) for t in ids):
            if skip_special_tokens and i in self.special_ids:
                continue
            token = self.added_by_id.get(i) or (self.sp.id_to_piece(i) if i in self.special_ids else None)
            if token is None:
                run.append(i)
                continue
            if run:
                parts.append(self.sp.decode(run))
                run = []
            parts.append(token)
        if run:
            parts.append(self.sp.decode(run))
        return " ".join(parts)


def load_lisa_tokenizer(folder: str):
    """LISA's slow tokenizer when the folder has tokenizer.model; otherwise the folder's fast tokenizer,
    with a warning that its ids around [SEG]/<im_start>/<im_end> may differ from LISA's training."""
    if os.path.isfile(os.path.join(folder, SENTENCEPIECE_FILE)):
        try:
            import sentencepiece  # noqa: F401
        except ImportError as error:
            raise ImportError("LISA's tokenizer (tokenizer.model) needs the sentencepiece package: "
                              "pip install sentencepiece") from error
        return LisaTokenizer(folder)
    from transformers import AutoTokenizer

    log.warning("%s has no %s (LISA's slow SentencePiece tokenizer): using its fast tokenizer; whitespace "
                "next to [SEG], <im_start> and <im_end> may be tokenized differently than LISA was trained",
                folder, SENTENCEPIECE_FILE)
    return AutoTokenizer.from_pretrained(folder, local_files_only=True)
