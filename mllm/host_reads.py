"""Which operations of a call read a tensor's values on the host: on CUDA each is a synchronisation, and
inside a CUDA-graph recording an error. Seen on any device by watching the dispatched operators (a tensor's
``tolist()`` is not dispatched and goes unseen)."""

import traceback

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# operators whose result depends on tensor values the host must see (item(), bool(), data-dependent shapes)
HOST_READS = frozenset({"_local_scalar_dense", "is_nonzero", "nonzero", "equal", "item",
                        "masked_select", "unique_consecutive", "_unique2", "unique_dim", "repeat_interleave"})


class HostReads(TorchDispatchMode):
    """Records (operator, where in the caller's code) for every host-reading operator dispatched inside."""

    def __init__(self):
        super().__init__()
        self.seen: list[tuple[str, str]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._schema.name.split("::")[-1]
        if name in HOST_READS and not (name == "repeat_interleave" and _has_int_repeats(args)):
            frames = [f for f in traceback.extract_stack()[:-1] if "/torch/" not in f.filename]
            where = f"{frames[-1].filename.rsplit('site-packages/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
            self.seen.append((name, where))
        return func(*args, **(kwargs or {}))


def _has_int_repeats(args) -> bool:
    return len(args) > 1 and not isinstance(args[1], torch.Tensor)
