"""What would make a recorded decode step wrong, seen by watching the operators of one eager run of it (on
any device):

- host reads: operators whose result the host must see (item(), bool(), data-dependent shapes). On CUDA
  each is a synchronisation, and inside a CUDA-graph recording an error. (A tensor's ``tolist()`` is not
  dispatched and goes unseen.)
- outside tensors: tensors the step reads that are neither its arguments, the model's parameters and
  buffers, the KV cache, nor made inside the step (such as a model's stored rope deltas). A graph keeps
  reading the memory it was recorded with, so these must be followed when the model replaces them.

Asked to, it also keeps the operators themselves (``OpReplay``): replayed on the tensors they ran on, with
no model code run again, they behave as a CUDA graph does (fixed memory, Python state frozen), on any device.
"""

import traceback

import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

# operators whose result depends on tensor values the host must see (item(), bool(), data-dependent shapes)
HOST_READS = frozenset({"_local_scalar_dense", "is_nonzero", "nonzero", "equal", "item", "masked_select",
                        "unique_consecutive", "_unique2", "unique_dim", "repeat_interleave"})


class StepWatch(TorchDispatchMode):
    """Records host reads as (operator, where in the caller's code) and every tensor an operator reads
    that no operator inside made (``read_from_outside``); with keep_ops, the operators (``replayable``)."""

    def __init__(self, keep_ops: bool = False):
        super().__init__()
        self.host_reads: list[tuple[str, str]] = []
        self._made: dict[int, torch.Tensor] = {}  # kept alive while watching, so their ids stay unique
        self._read: dict[int, torch.Tensor] = {}
        self._ops: list | None = [] if keep_ops else None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name.split("::")[-1]
        if name in HOST_READS and not (name == "repeat_interleave" and _has_int_repeats(args)):
            self.host_reads.append((name, _caller()))
        if name.startswith("lift_fresh"):  # torch.tensor(...) inside the step: a constant made there
            self._made.update((id(a), a) for a in args if isinstance(a, torch.Tensor))
        for value in pytree.tree_leaves((args, kwargs or {})):
            if isinstance(value, torch.Tensor) and id(value) not in self._made:
                self._read[id(value)] = value
        out = func(*args, **(kwargs or {}))
        for value in pytree.tree_leaves(out):
            if isinstance(value, torch.Tensor):
                self._made[id(value)] = value
        if self._ops is not None:
            self._ops.append((func, args, kwargs or {}, out))
        return out

    def replayable(self) -> "OpReplay":
        return OpReplay(self._ops or [])

    def __exit__(self, *exc):
        self._made.clear()  # the step's intermediates: needed only to tell them from outside tensors
        return super().__exit__(*exc)

    def read_from_outside(self, known) -> list[torch.Tensor]:
        """The tensors read that are not in ``known`` (tensors the caller accounts for)."""
        known_ids = {id(t) for t in known}
        return [t for key, t in self._read.items() if key not in known_ids]


class OpReplay:
    """The operators of one watched call, run again on the same tensors: each result is copied into the
    tensor the recorded call produced, so later operators (and the caller's output) see it there."""

    def __init__(self, ops: list):
        self.ops = ops

    def replay(self) -> None:
        for func, args, kwargs, recorded in self.ops:
            fresh = func(*args, **kwargs)
            for old, new in zip(pytree.tree_leaves(recorded), pytree.tree_leaves(fresh)):
                if isinstance(old, torch.Tensor) and not _same_memory(old, new):
                    old.copy_(new)


def _same_memory(old: torch.Tensor, new: torch.Tensor) -> bool:
    """An in-place result or a view of the same memory: nothing to copy."""
    return old is new or (old.data_ptr() == new.data_ptr() and old.stride() == new.stride()
                          and old.shape == new.shape)


def _caller() -> str:
    frames = [f for f in traceback.extract_stack()[:-2] if "/torch/" not in f.filename]
    return f"{frames[-1].filename.rsplit('site-packages/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"


def _has_int_repeats(args) -> bool:
    return len(args) > 1 and not isinstance(args[1], torch.Tensor)


def tensors_in(obj, depth: int = 5) -> list[torch.Tensor]:
    """Tensors held by obj (a KV cache: its layers, their key/value tensors or linear-attention state dicts):
    its attributes, lists and dicts, a few levels deep."""
    if isinstance(obj, torch.Tensor):
        return [obj]
    if depth == 0 or obj is None or isinstance(obj, (str, bytes, int, float, bool)):
        return []
    if isinstance(obj, dict):
        children = list(obj.values())
    elif isinstance(obj, (list, tuple)):
        children = list(obj)
    else:
        children = list(getattr(obj, "__dict__", {}).values())
    return [t for child in children for t in tensors_in(child, depth - 1)]


def module_attributes(model, tensors) -> list[tuple[object, str, torch.Tensor]]:
    """(module, attribute name, tensor) for each tensor held as a plain attribute of one of model's modules;
    raises LookupError naming the first that is held nowhere in the model."""
    wanted = {id(t): t for t in tensors}
    found = {}
    for module in model.modules():
        for name, value in vars(module).items():
            if isinstance(value, torch.Tensor) and id(value) in wanted:
                found.setdefault(id(value), (module, name, value))
    missing = [t for key, t in wanted.items() if key not in found]
    if missing:
        raise LookupError(f"a {tuple(missing[0].shape)} {missing[0].dtype} tensor")
    return list(found.values())
