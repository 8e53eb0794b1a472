"""Text or phrase -> mask: SAM (load, predict, embedding cache, mask ops, the Hugging Face layout), SAM 3
(a noun phrase -> every instance; the phrase cut in noun_phrase), LISA (a LLaVA with a [SEG] token and SAM's
decoder) and MLLM grounding (boxes/points from an MLLM answer, in each family's box format, then SAM). Never imports ComfyUI;
may import ``mllm`` (LISA is a LLaVA, grounding asks an MLLM), never the reverse."""
