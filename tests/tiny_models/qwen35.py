"""A tiny Qwen3.5 (see qwen3vl.py, which writes both)."""

from .qwen3vl import build_qwen3_5 as build  # noqa: F401
