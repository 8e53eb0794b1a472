"""Nodes that produce a GENASSIST_MLLM: a local model folder, or an OpenAI-compatible server."""

import logging

import comfy.model_management as mm
import folder_paths

from ..mllm.loader import load_backend, vision_tower_name
from ..mllm.model_store import CURATED, VISION_TOWERS, ModelMissingError, resolve_model
from ..mllm.openai_backend import OpenAIBackend
from ..segmentation.lisa_store import VISION_TOWERS as LISA_VISION_TOWERS
from ..segmentation.lisa_store import is_lisa_folder
from . import _types as types
from ._folders import list_model_dirs
from ._memory import preferred_dtype, wrap_model
from ._mllm_handle import MLLMHandle, ModelContainer, default_cache_dir
from ._types import io, output

log = logging.getLogger("GenAssist")
CATEGORY = "GenAssist/MLLM"

_CACHE_TIP = ("Keep answers on disk (ComfyUI user folder), keyed by model, prompt, image, settings and seed: "
              "the same request is answered again without running the model.")


def _model_choices() -> list[str]:
    """MLLM folders and the download list; vision towers and LISA checkpoints have their own loaders."""
    local = set(list_model_dirs("LLM", lambda path: not is_lisa_folder(path)))
    return sorted((local | set(CURATED)) - VISION_TOWERS - set(LISA_VISION_TOWERS))


_COMPILE_TIP = ("Faster answers on a GPU: a pre-allocated KV cache and the one-token decoding step recorded as "
                "CUDA graphs and replayed. The first answer of each length bucket records first (logged); later "
                "answers replay. A model whose step cannot be recorded uses torch.compile instead (about 20 s "
                "the first time); on a CPU, torch.compile with inductor (needs a C compiler). Falls back to "
                "normal decoding, logging why.")


class LoadMLLM(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_LoadMLLM",
            display_name="Load MLLM (GenAssist)",
            category=CATEGORY,
            description=(
                "Load a multimodal LLM from a folder in models/LLM: any image-text-to-text model the installed "
                "transformers knows (Qwen2.5-VL, Qwen3-VL, Qwen3.5, Gemma 3, InternVL, Mistral 3, LLaVA...) and "
                "text-only chat models through transformers, and LLMGA / legacy LLaVA checkpoints in their "
                "original layout. ComfyUI manages its memory: it is moved to the GPU only while it generates and "
                "can be evicted when the diffusion model needs room."),
            inputs=[
                io.Combo.Input("model", options=_model_choices(), tooltip=(
                    "Folder name under models/LLM (extra_model_paths.yaml folders included). Names of the "
                    "download list appear even before they are on disk.")),
                types.dtype_input("Weights precision. auto: bf16 (or fp16) on GPU, fp32 on CPU."),
                io.Combo.Input("quantization", options=["none", "8bit", "4bit"], default="none", tooltip=(
                    "8/4-bit weights via bitsandbytes (CUDA only; must be installed). Quantized models stay on "
                    "the GPU.")),
                io.Boolean.Input("download", default=False, tooltip=(
                    "If the folder is missing or incomplete and the name is in the download list, fetch it "
                    "from Hugging Face into models/LLM/<name>. A complete copy is never re-downloaded; "
                    "HF_HUB_OFFLINE=1 forbids downloading.")),
                io.Boolean.Input("cache_answers", default=False, tooltip=_CACHE_TIP),
                io.Boolean.Input("trust_remote_code", default=False, optional=True, tooltip=(
                    "Allow Python code shipped in the model folder to run. Leave off unless you trust its "
                    "author.")),
                io.Boolean.Input("compile", default=False, optional=True, tooltip=_COMPILE_TIP),
            ],
            outputs=[output(types.MLLM, "mllm", tooltip=(
                "The loaded model, for Refine Prompt, Expressive Instruction and the other MLLM nodes."))],
        )

    @classmethod
    def execute(cls, model, dtype="auto", quantization="none", download=False, cache_answers=False,
                trust_remote_code=False, compile=False) -> io.NodeOutput:
        search = folder_paths.get_folder_paths("LLM")
        folder = resolve_model(model, search, download=download)
        device = mm.text_encoder_device()
        torch_dtype = preferred_dtype(device, dtype)
        vision_dir = _vision_dir(folder, search, download)
        backend = load_backend(folder, dtype=torch_dtype, quantization=quantization, device=device,
                               vision_dir=vision_dir, trust_remote_code=trust_remote_code)
        # bitsandbytes weights cannot be moved between devices: those stay on the GPU, unmanaged
        patcher = (wrap_model(ModelContainer(backend.module), role="text_encoder", label=model) if quantization == "none"
                   else None)
        if compile:
            backend.decode_mode = "compile"
        log.info("GenAssist: loaded %s (%s, %s)", model, backend.family, torch_dtype)
        return io.NodeOutput(MLLMHandle(backend, patcher, cache_dir=default_cache_dir() if cache_answers else None))


def _vision_dir(folder, search, download):
    """The separate CLIP folder a legacy checkpoint may need (used only if its own tower is absent)."""
    try:
        name = vision_tower_name(folder)
    except (ValueError, KeyError, OSError):
        return None  # not a legacy checkpoint
    try:
        return resolve_model(name, search, download=False)
    except ModelMissingError:
        if download and name in CURATED and not _has_tower_keys(folder):
            return resolve_model(name, search, download=True)
        return None


def _has_tower_keys(folder) -> bool:
    from ..mllm.weights import weight_files

    for path in weight_files(folder):
        if path.endswith(".safetensors"):
            from safetensors import safe_open

            with safe_open(path, "pt") as f:
                if any(k.startswith("model.vision_tower.") for k in f.keys()):
                    return True
    return False


class MLLMServer(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_MLLMServer",
            display_name="MLLM Server (GenAssist)",
            category=CATEGORY,
            description=(
                "Use a model served over the OpenAI chat-completions protocol: Ollama, llama.cpp server, vLLM, "
                "LM Studio or OpenAI. The API key is read from an environment variable, so it never ends up in "
                "a saved workflow or image."),
            inputs=[
                io.String.Input("base_url", default="http://127.0.0.1:11434/v1", tooltip=(
                    "Server address up to /v1 (Ollama: http://127.0.0.1:11434/v1, llama.cpp/vLLM: "
                    "http://127.0.0.1:8000/v1, OpenAI: https://api.openai.com/v1).")),
                io.String.Input("model", default="qwen2.5vl:7b", tooltip="The server's model id."),
                io.String.Input("api_key_env", default="", tooltip=(
                    "NAME of the environment variable holding the API key (e.g. OPENAI_API_KEY), not the key "
                    "itself. Empty: no key.")),
                io.Int.Input("timeout_s", default=120, min=1, max=3600, tooltip=(
                    "Longest wait for the server, in seconds: for the first word and for each next part of a "
                    "streamed answer (stream off: for the whole answer). A timed-out request is reported, not "
                    "sent again.")),
                io.Boolean.Input("stream", default=True, tooltip=(
                    "Show the answer on the node while it is written; cancel stops it at once.")),
                io.Boolean.Input("cache_answers", default=False, tooltip=_CACHE_TIP),
            ],
            outputs=[output(types.MLLM, "mllm", tooltip=(
                "The server model, for Refine Prompt, Expressive Instruction and the other MLLM nodes."))],
        )

    @classmethod
    def execute(cls, base_url, model, api_key_env, timeout_s=120, stream=True,
                cache_answers=False) -> io.NodeOutput:
        backend = OpenAIBackend(base_url, model, api_key_env=api_key_env, timeout=float(timeout_s),
                                stream=stream)
        return io.NodeOutput(MLLMHandle(backend, None, cache_dir=default_cache_dir() if cache_answers else None))


NODES = [LoadMLLM, MLLMServer]
