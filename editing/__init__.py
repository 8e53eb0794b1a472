"""TIE-style complex edits: edit-plan schema and validation, crop/stitch geometry, the step loop.
Never imports ComfyUI."""
