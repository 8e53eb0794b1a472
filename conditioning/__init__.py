"""Text conditioning for CLIP: 77-token windows planned from sentences or LLMGA's layout (token_windows)
and the long-prompt encoding built on them (long_prompt). Works on any object with ComfyUI's CLIP
methods (tokenize, encode_from_tokens_scheduled); never imports ComfyUI."""
