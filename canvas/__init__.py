"""Infinite canvas (arXiv 2407.12642): an image grows tile by tile, each tile conditioned on a global
caption and a local caption an MLLM writes for it.

Host-free: the canvas plan and its JSON contract (plan.py), tile layout and generation order
(layout.py), caption requests and answers (captions.py), window geometry, fill and paste (window.py).
The paper publishes no tile size, overlap, order or caption prompt: every one of those here is ours.
"""
