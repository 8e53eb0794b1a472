"""MLLM backends, prompt templates, output parsing, LISA and grounding. Never imports ComfyUI."""
