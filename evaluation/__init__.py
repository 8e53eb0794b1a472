"""The papers' benchmarks for the pack: dataset readers (ReasonSeg, MagicBrush), the papers' metrics, and
two ways to produce predictions (the pack's libraries directly, or any ComfyUI workflow on running servers).
Command line: ``python -m evaluation`` from the pack root (see ``__main__``) or ``scripts/evaluate.py``."""
