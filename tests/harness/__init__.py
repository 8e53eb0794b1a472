"""Test harness: locate the ComfyUI host, run its server, convert workflows."""
