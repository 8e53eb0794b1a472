"""Text or phrase -> mask: SAM (load, predict, embedding cache, mask ops), LISA (a LLaVA with a [SEG] token
and SAM's decoder) and MLLM grounding (boxes/points from an MLLM answer, then SAM). Never imports ComfyUI;
may import ``mllm`` (LISA is a LLaVA, grounding asks an MLLM), never the reverse."""
