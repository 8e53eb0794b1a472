"""Shared parts of the tiny vision-language models: a tokenizer from the ones ComfyUI ships with the
family's special tokens added, a chat template in the family's turn format, and the atomic folder write
(config.json, model.safetensors, tokenizer files, processor config, chat template, generation config)."""

import json
from collections.abc import Callable
from pathlib import Path

import torch

from . import atomic_path

HIDDEN = 64
TEXT = dict(hidden_size=HIDDEN, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, max_position_embeddings=4096)


def tokenizer_dir(kind: str) -> Path:
    from harness import host

    return host.comfy_dir() / "comfy" / "text_encoders" / f"{kind}_tokenizer"


def tokenizer(kind: str, special: dict[str, str] | None = None, added: tuple[str, ...] = (),
              plain: tuple[str, ...] = ()):
    """ComfyUI's ``<kind>_tokenizer`` plus named special tokens (tokenizer.<name> attributes the family's
    processor reads), other special tokens, and plain added tokens (kept when decoding with
    skip_special_tokens, as location/box tokens must be)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir(kind)), extra_special_tokens=dict(special or {}))
    if added:
        tok.add_tokens(list(added), special_tokens=True)
    if plain:
        tok.add_tokens(list(plain), special_tokens=False)
    return tok


# ChatML turns (<|im_start|>role ... <|im_end|>), shared by the Qwen and InternVL families
CHATML = {role: (f"<|im_start|>{role}\n", "<|im_end|>\n") for role in ("system", "user", "assistant")}


def chat_template(turns: dict[str, tuple[str, str]], image: str, bos: str = "") -> str:
    """A chat template in a family's turn format: ``turns[role] = (opening, closing)`` text; a role missing
    from ``turns`` (e.g. system) makes the template raise, as some families' templates do. Image parts
    render as ``image``; the generation prompt is the assistant's opening."""
    opens = {role: pair[0] for role, pair in turns.items()}
    closes = {role: pair[1] for role, pair in turns.items()}
    return (
        "{%- set opens = " + json.dumps(opens) + " -%}{%- set closes = " + json.dumps(closes) + " -%}"
        + bos.replace("{", "{{ '{' }}")
        + "{%- for m in messages -%}"
        "{%- if m['role'] not in opens -%}{{ raise_exception(m['role'] + ' role not supported') }}{%- endif -%}"
        "{{ opens[m['role']] }}"
        "{%- if m['content'] is string -%}{{ m['content'] }}{%- else -%}{%- for c in m['content'] -%}"
        "{%- if c['type'] == 'image' -%}" + image + "{%- elif c['type'] == 'text' -%}{{ c['text'] }}{%- endif -%}"
        "{%- endfor -%}{%- endif -%}{{ closes[m['role']] }}{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{ opens['assistant'] }}{%- endif -%}"
    )


def write_folder(folder: Path, config, processor, eos_ids: list[int], seed: int,
                 fix_config: Callable[[dict], None] | None = None) -> None:
    """Random weights (N(0, 0.05): livelier text than the default init) for ``config``, saved with
    ``processor`` into ``folder`` atomically."""
    from transformers import AutoModelForImageTextToText

    with atomic_path(folder) as tmp:
        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(config)
        with torch.no_grad():
            for param in model.parameters():
                if param.dim() > 1:
                    param.normal_(0.0, 0.05)
        model.save_pretrained(str(tmp), safe_serialization=True)
        processor.save_pretrained(str(tmp))
        pad = processor.tokenizer.pad_token_id
        (tmp / "generation_config.json").write_text(json.dumps(
            {"eos_token_id": eos_ids, "pad_token_id": eos_ids[0] if pad is None else pad}))
        if fix_config is not None:
            data = json.loads((tmp / "config.json").read_text())
            fix_config(data)
            (tmp / "config.json").write_text(json.dumps(data, indent=2))


def build_once(models_dir: Path, name: str, write: Callable[[Path], None]) -> str:
    """Write once into models/LLM/<name>. Folders saved by transformers 5 do not load in 4.x (tokenizer
    class, rope keys), so an older transformers writes its own copy under a suffixed name."""
    import transformers

    if int(transformers.__version__.split(".")[0]) < 5:
        name = f"{name}-tf{transformers.__version__}"
    folder = Path(models_dir) / "LLM" / name
    if not (folder / "config.json").is_file():
        write(folder)
    return name
