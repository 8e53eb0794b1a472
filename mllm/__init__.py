"""MLLM backends (local Hugging Face VLMs, legacy LLaVA/LLMGA, OpenAI-compatible servers), decoding,
prompt templates, answer parsing and the answer cache. The bottom layer: never imports ComfyUI or any
other package of the pack."""
