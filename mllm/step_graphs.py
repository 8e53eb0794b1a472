"""Decode steps recorded once as CUDA graphs and replayed: the launch-bound part of batch-1 decoding gone
without a compiler.

transformers' generate calls ``model.get_compiled_call(config)`` for the forward of every decode step when
the KV cache is static; ``StepGraphs`` stands in for that call. The first step with a new input signature
(tensor shapes and dtypes, the other arguments' values, the cache object) runs the model once eagerly, then
records the same call into a CUDA graph on private input buffers; later steps copy their tensors into
those buffers and replay it. A step that reads a tensor's value on the host, which a recording cannot
hold, is refused after the warm-up (NotRecordable). A decode step only writes its token's keys and values at its cache position, so the
warm-up run, the recording and the replay leave the cache exactly as one eager step would.

On a CPU the "recording" is the eager call itself, replayed eagerly on the same buffers: it exercises
everything but the capture (tests; GENASSIST_DECODE=graphs), at eager speed.
"""

import contextlib
import logging
import weakref
from dataclasses import dataclass

import torch
from torch.utils import _pytree as pytree

from .host_reads import HostReads

log = logging.getLogger(__name__)

MAX_SIGNATURES = 4  # more than this means the inputs change shape every step: recording would never pay off


class NotRecordable(RuntimeError):
    """This model's decode step cannot be recorded as a CUDA graph."""


class SignatureChurn(NotRecordable):
    """The decode step's inputs keep changing shape: recording would never pay off."""


@dataclass
class _Recording:
    inputs: list  # the flat call arguments; tensors are the graph's input buffers
    spec: object  # pytree spec of the keyword arguments
    output: object  # the model output whose tensors the graph writes
    graph: object = None  # torch.cuda.CUDAGraph, None on a CPU


def _is_leaf(value) -> bool:
    """Only plain containers are opened: a cache object (which transformers may register as a pytree for
    export) stays one argument, so the graph writes into its own tensors, not copies."""
    return type(value) not in (dict, list, tuple)


def _signature(flat: list) -> tuple:
    key = []
    for value in flat:
        if isinstance(value, torch.Tensor):
            key.append(("t", tuple(value.shape), value.dtype, str(value.device)))
        elif value is None or isinstance(value, (bool, int, float, str)):
            key.append(("v", value))
        else:  # the cache: the graph writes into its tensors, so it is part of the recording
            key.append(("o", id(value)))
    return tuple(key)


def _fresh(output):
    """The output with its tensors copied out of the graph's buffers: generate may keep them across steps."""
    fields = {name: value.clone() if isinstance(value, torch.Tensor) else
              pytree.tree_map(lambda v: v.clone() if isinstance(v, torch.Tensor) else v, value)
              if isinstance(value, (tuple, list)) else value
              for name, value in output.items()}
    return type(output)(**fields)


class StepGraphs:
    """model.__call__ for decode steps, recorded per input signature and replayed."""

    def __init__(self, model):
        self.model = weakref.ref(model)  # held next to the model's own buffers: must not keep it alive
        self.recordings: dict[tuple, _Recording] = {}
        self.pool = None  # one CUDA memory pool for all of this model's graphs
        self.replays = 0

    def __call__(self, **kwargs):
        flat, spec = pytree.tree_flatten(kwargs, is_leaf=_is_leaf)
        key = _signature(flat)
        recording = self.recordings.get(key)
        if recording is None:
            if len(self.recordings) >= MAX_SIGNATURES:
                raise SignatureChurn(f"the decode step's inputs changed shape {MAX_SIGNATURES} times")
            recording = self.recordings[key] = self._record(flat, spec)
            return _fresh(recording.output)
        for buffer, value in zip(recording.inputs, flat):
            if isinstance(buffer, torch.Tensor) and buffer is not value:
                buffer.copy_(value)
        self._replay(recording)
        self.replays += 1
        return _fresh(recording.output)

    def _call(self, inputs: list, spec):
        return self.model()(**pytree.tree_unflatten(inputs, spec))

    def _record(self, flat: list, spec) -> _Recording:
        inputs = [value.clone() if isinstance(value, torch.Tensor) else value for value in flat]
        device = next((v.device for v in inputs if isinstance(v, torch.Tensor)), torch.device("cpu"))
        cuda = device.type == "cuda"
        # the warm-up run, on a side stream as CUDA graph recording requires (lazy initialisations, cuBLAS
        # handles), watched for host reads, which would break the recording (some model code of older
        # transformers versions checks tensor values in every step)
        side = torch.cuda.Stream(device) if cuda else None
        if cuda:
            side.wait_stream(torch.cuda.current_stream(device))
        reads = HostReads()
        with torch.cuda.stream(side) if cuda else contextlib.nullcontext(), reads:
            output = self._call(inputs, spec)
        if cuda:
            torch.cuda.current_stream(device).wait_stream(side)
        if reads.seen:
            name, where = reads.seen[0]
            raise NotRecordable(f"the decode step reads a tensor on the host ({name} at {where}), which a CUDA "
                                "graph cannot record")
        if not cuda:
            return _Recording(inputs, spec, output)
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        # thread_local: CUDA calls of ComfyUI's other threads (previews, the UI) do not break the recording
        with torch.cuda.graph(graph, pool=self.pool, capture_error_mode="thread_local"):
            output = self._call(inputs, spec)
        recording = _Recording(inputs, spec, output, graph)
        self._replay(recording)  # recording runs nothing: replay once for this step's output
        return recording

    def _replay(self, recording: _Recording) -> None:
        if recording.graph is None:
            recording.output = self._call(recording.inputs, recording.spec)
        else:
            recording.graph.replay()
