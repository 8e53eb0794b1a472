"""Decode steps recorded once as CUDA graphs and replayed: the launch-bound part of batch-1 decoding gone
without a compiler.

transformers' generate calls ``model.get_compiled_call(config)`` for the forward of every decode step when
the KV cache is static; ``StepGraphs`` stands in for that call. The first step with a new input signature
(tensor shapes and dtypes, the other arguments' values, the cache object) runs the model once eagerly, then
records the same call into a CUDA graph on private input buffers; later steps copy their tensors into
those buffers and replay it. The warm-up is watched (step_watch.py): a step that reads a tensor's value
on the host, which a recording cannot hold, is refused (NotRecordable); model state it reads that the
model may replace between calls (a tensor attribute) is copied into the recorded memory before each
replay. The recording itself executes nothing, so every step updates the cache exactly once, as an eager
step would (linear-attention states, which advance on every update, included).

On a CPU the recording is the warm-up's list of operators, replayed on the same tensors without running the
model's code again: what a CUDA graph does, at eager speed, so the tests of this path (and
GENASSIST_DECODE=graphs) see a replay's semantics on any device.
"""

import contextlib
import logging
import weakref
from dataclasses import dataclass

import torch
from torch.utils import _pytree as pytree

from .step_watch import StepWatch, module_attributes, tensors_in

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
    graph: object = None  # torch.cuda.CUDAGraph; on a CPU the watched operators (step_watch.OpReplay)
    followed: tuple = ()  # (module, attribute, tensor read by the graph): model state the step reads
    held: tuple = ()  # the tensors of the argument objects (the KV cache) the graph reads and writes
    weights: tuple = ()  # where the model's parameters and buffers lived when recorded


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


def _weight_addresses(model) -> tuple:
    return tuple(t.data_ptr() for t in (*model.parameters(), *model.buffers()))


def _held_tensors(flat: list) -> tuple:
    return tuple(t for value in flat if not isinstance(value, torch.Tensor) for t in tensors_in(value))


def _fresh(output):
    """The output with its tensors copied out of the graph's buffers: generate may keep them across steps."""
    def copy(value):
        return value.clone() if isinstance(value, torch.Tensor) else value

    return type(output)(**{name: pytree.tree_map(copy, value, is_leaf=_is_leaf) for name, value in output.items()})


class StepGraphs:
    """model.__call__ for decode steps, recorded per input signature and replayed."""

    def __init__(self, model):
        self.model = weakref.ref(model)  # held next to the model's own buffers: must not keep it alive
        self.recordings: dict[tuple, _Recording] = {}
        self.pool = None  # one CUDA memory pool for all of this model's graphs
        self.replays = 0
        self.check_cache = False  # set at each generate call: see new_call

    def new_call(self) -> None:
        """A generate call starts: its first step checks that the cache still holds the recorded tensors and
        the weights are where they were (ComfyUI may have offloaded and reloaded them meanwhile)."""
        self.check_cache = True

    def __call__(self, **kwargs):
        flat, spec = pytree.tree_flatten(kwargs, is_leaf=_is_leaf)
        if self.check_cache:
            self.check_cache = False
            self._forget_stale(flat)
        key = _signature(flat)
        recording = self.recordings.get(key)
        if recording is None:
            if len(self.recordings) >= MAX_SIGNATURES:
                raise SignatureChurn(f"the decode step's inputs changed shape {MAX_SIGNATURES} times")
            self.recordings[key], first = self._record(flat, spec)
            return _fresh(first)
        for buffer, value in zip(recording.inputs, flat):
            if isinstance(buffer, torch.Tensor) and buffer is not value:
                buffer.copy_(value)
        self._replay(recording)
        self.replays += 1
        return _fresh(recording.output)

    def _forget_stale(self, flat: list) -> None:
        """Drop the recordings if the cache (re)allocated a tensor or a weight moved since they were made:
        they would read and write memory the model no longer uses."""
        held, weights = tuple(id(t) for t in _held_tensors(flat)), _weight_addresses(self.model())
        for recording in self.recordings.values():
            if tuple(id(t) for t in recording.held) != held or recording.weights != weights:
                log.info("GenAssist: the KV cache or the weights moved; recording the decode step again")
                self.recordings.clear()
                return

    def _call(self, inputs: list, spec):
        return self.model()(**pytree.tree_unflatten(inputs, spec))

    def _record(self, flat: list, spec) -> tuple[_Recording, object]:
        """(the recording, the warm-up's output: this step's result). The step runs once: a recording
        executes nothing, so linear-attention and sliding-window caches, which a second run would advance
        again, see exactly one update."""
        inputs = [value.clone() if isinstance(value, torch.Tensor) else value for value in flat]
        device = next((v.device for v in inputs if isinstance(v, torch.Tensor)), torch.device("cpu"))
        cuda = device.type == "cuda"
        # the warm-up run, on a side stream as CUDA graph recording requires (lazy initialisations, cuBLAS
        # handles), watched for what a recording cannot hold
        side = torch.cuda.Stream(device) if cuda else None
        if cuda:
            side.wait_stream(torch.cuda.current_stream(device))
        watch = StepWatch(keep_ops=not cuda)
        with torch.cuda.stream(side) if cuda else contextlib.nullcontext(), watch:
            output = self._call(inputs, spec)
        if cuda:
            torch.cuda.current_stream(device).wait_stream(side)
        followed = self._check(watch, inputs)
        if not cuda:  # the warm-up's operators are the recording: replayed like a graph, no model code run
            return _Recording(inputs, spec, output, watch.replayable(), followed, _held_tensors(inputs),
                              _weight_addresses(self.model())), output
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        # thread_local: CUDA calls of ComfyUI's other threads (previews, the UI) do not break the recording
        with torch.cuda.graph(graph, pool=self.pool, capture_error_mode="thread_local"):
            recorded = self._call(inputs, spec)
        return _Recording(inputs, spec, recorded, graph, followed, _held_tensors(inputs),
                          _weight_addresses(self.model())), output

    def _check(self, watch: StepWatch, inputs: list) -> tuple:
        """Refuse a step a graph cannot hold; returns the model state it reads, to follow on every replay."""
        if watch.host_reads:  # some model code of older transformers checks tensor values in every step
            name, where = watch.host_reads[0]
            raise NotRecordable(f"the decode step reads a tensor on the host ({name} at {where}), which a CUDA "
                                "graph cannot record")
        model = self.model()
        known = [*(v for v in inputs if isinstance(v, torch.Tensor)), *_held_tensors(inputs)]
        outside = watch.read_from_outside([*known, *model.parameters(), *model.buffers()])
        try:
            return tuple(module_attributes(model, outside))
        except LookupError as error:
            raise NotRecordable(f"the decode step reads {error} held outside its arguments, the model and the KV "
                                "cache; a CUDA graph would go on reading it after it changed") from None

    def _replay(self, recording: _Recording) -> None:
        for module, name, recorded in recording.followed:  # e.g. rope deltas the prefill of this call replaced
            current = getattr(module, name, None)
            if current is recorded:
                continue
            if not isinstance(current, torch.Tensor) or (current.shape, current.dtype, current.device) != (
                    recorded.shape, recorded.dtype, recorded.device):
                raise NotRecordable(f"{type(module).__name__}.{name}, read by the recorded step, changed shape")
            recorded.copy_(current)
        recording.graph.replay()
