"""What would make a recorded decode step wrong, seen by watching the operators of one eager run of it (on
any device):

- host reads: operators whose result the host must see (item(), bool(), data-dependent shapes). On CUDA
  each is a synchronisation, and inside a CUDA-graph recording an error. (A tensor's ``tolist()`` is not
  dispatched and goes unseen.)
- outside tensors: tensors the step reads that are neither its arguments, the model's parameters and
  buffers, the KV cache, nor made inside the step (such as a model's stored rope deltas). A graph keeps
  reading the memory it was recorded with, so these must be followed when the model replaces them.
"""

import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode

# operators whose result depends on tensor values the host must see (item(), bool(), data-dependent shapes)
HOST_READS = frozenset({"_local_scalar_dense", "is_nonzero", "nonzero", "equal", "item", "masked_select",
                        "unique_consecutive", "_unique2", "unique_dim", "repeat_interleave"})


class StepWatch(TorchDispatchMode):
    """Records host reads as (operator, where in the caller's code) and every tensor an operator reads
    that no operator inside made (``read_from_outside``)."""

    def __init__(self):
        super().__init__()
        self.host_reads: list[tuple[str, str]] = []
        self._made: dict[int, torch.Tensor] = {}  # kept alive while watching, so their ids stay unique
        self._read: dict[int, torch.Tensor] = {}

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
        return out

    def read_from_outside(self, known) -> list[torch.Tensor]:
        """The tensors read that are not in ``known`` (tensors the caller accounts for)."""
        known_ids = {id(t) for t in known}
        outside = [t for key, t in self._read.items() if key not in known_ids]
        self._made.clear()
        return outside


def _caller() -> str:
    import traceback

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
