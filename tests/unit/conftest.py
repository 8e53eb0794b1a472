"""Tiny local backends loaded once per test module that asks for them."""

import pytest

from genassist.mllm.loader import load_backend


@pytest.fixture(scope="module")
def llmga(tiny, models_dir):
    return load_backend(str(models_dir / "LLM" / tiny.llmga()))


@pytest.fixture(scope="module")
def qwen(tiny, models_dir):
    return load_backend(str(models_dir / "LLM" / tiny.qwen25vl()))


@pytest.fixture(scope="module")
def lisa(tiny, models_dir):
    from genassist.segmentation.lisa import load_lisa
    from tiny_models import lisa as tiny_lisa

    return load_lisa(str(models_dir / "LLM" / tiny.lisa()), str(models_dir / "LLM" / tiny_lisa.CLIP_NAME))
