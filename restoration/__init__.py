"""Restoration networks and weight-free seam correction. Never imports ComfyUI."""
