"""Work dealt out over the worker processes of one stage: ranks, a sharded map, the device.

The gate and the benchmark run under the stagekit launcher (`Stage(launcher=...)`, as train
and sample): `<section>.processes` workers started by torch.distributed.run, or a
hand-run `torchrun --nnodes ...` over machines. Every worker runs the same code on the same
inputs; `map_shards` is the one place where they split up: item i runs on rank i % size,
one at a time per rank, and the results travel (torch.distributed all_gather_object: gloo
on CPU, NCCL on GPUs) so that every rank holds the full list in item order. Without
torch.distributed (one process) it is a plain loop.

Every rank must call `map_shards` with the same items in the same order (it is a
collective). Only results travel: `fn` may be a closure, each rank calls its own; results
should be CPU objects (numpy arrays, plain data), a CUDA tensor would arrive on the
sender's device number.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import torch

from factory.errors import FactoryError

T = TypeVar("T")
R = TypeVar("R")

# How long a rank waits at a gather for the others: ranks finish their shares at different
# times (a benchmark job can take hours); a rank that died ends the run through the
# launcher (it stops the other workers), not through this timeout.
GATHER_TIMEOUT = timedelta(hours=48)


def _launched() -> bool:
    """True inside a torch.distributed launch of more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init() -> None:
    """Join the launch's process group (idempotent; nothing to do in one process).

    gloo on CPU; NCCL on GPUs, each rank on cuda:LOCAL_RANK (set as the current device, so
    that code asking for plain "cuda" lands on its own GPU too).
    """
    import torch.distributed as dist

    if not _launched() or dist.is_initialized():
        return
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        if local > torch.cuda.device_count():
            raise FactoryError(
                f"{local} worker processes on this machine but {torch.cuda.device_count()} "
                "GPU(s) visible: one GPU per process; lower gate.processes / "
                "benchmark.processes (or torchrun --nproc_per_node), or hide the GPUs "
                "(CUDA_VISIBLE_DEVICES='') for CPU processes"
            )
        torch.cuda.set_device(device())
        dist.init_process_group("nccl", timeout=GATHER_TIMEOUT, device_id=device())
    else:
        dist.init_process_group("gloo", timeout=GATHER_TIMEOUT)


def close() -> None:
    """Leave the process group this module joined (at the end of a stage; idempotent)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def world() -> tuple[int, int]:
    """(rank, size) of this process; (0, 1) without torch.distributed."""
    if not _launched():
        return 0, 1
    init()
    import torch.distributed as dist

    return dist.get_rank(), dist.get_world_size()


def is_main() -> bool:
    """True on rank 0 (the one process that writes outputs and prints)."""
    if not _launched():
        return True
    return world()[0] == 0


def device() -> torch.device:
    """This rank's device: cuda:LOCAL_RANK when CUDA is present, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def share(value: T) -> T:
    """Rank 0's `value` on every rank (a collective: every rank calls it; one process: as is).

    For what must agree before a `map_shards`, when ranks could see it differently (e.g.
    which images a cache on one machine's disk lacks).
    """
    if world()[1] == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class _Failed:
    """What a rank sends instead of a result when `fn` raised on one of its items."""

    def __init__(self, index: int, rank: int, exc: BaseException) -> None:
        self.index, self.rank = index, rank
        self.kind, self.text = type(exc).__name__, str(exc)
        try:
            self.error: BaseException | None = pickle.loads(pickle.dumps(exc))
        except Exception:  # one that does not pickle travels as text
            self.error = None


def _bar(total: int, desc: str, progress: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc or None, unit="item", disable=not progress, leave=False)


def map_shards(
    fn: Callable[[T], R], items: Sequence[T], desc: str = "", *, progress: bool = True
) -> list[R]:
    """`[fn(x) for x in items]`, item i computed on rank i % size; every rank gets the list.

    One process: a plain loop with a tqdm bar. Several: each rank runs its items one at a
    time (the bar on rank 0 counts rank 0's share), then the results are gathered in item
    order. When `fn` raises on any rank, every rank raises after the gather (so that they
    all meet the same error at the same point, as `factory.errors.reported_errors`
    expects): a FactoryError as itself, anything else as the original on the rank that
    met it and a RuntimeError naming rank and item on the others.
    """
    rank, size = world()
    if size == 1:
        with _bar(len(items), desc, progress) as bar:
            results = []
            for x in items:
                results.append(fn(x))
                bar.update(1)
        return results

    import torch.distributed as dist

    mine: list[Any] = []
    failure: tuple[_Failed, BaseException] | None = None
    indices = range(rank, len(items), size)
    with _bar(len(indices), desc, progress and rank == 0) as bar:
        for i in indices:
            try:
                mine.append(fn(items[i]))
            except Exception as exc:  # sent to every rank, raised below
                failure = (_Failed(i, rank, exc), exc)
                mine = [failure[0]]
                break
            bar.update(1)
    gathered: list[list[Any] | None] = [None] * size
    dist.all_gather_object(gathered, mine)
    failed = [r[0] for r in gathered if r and isinstance(r[0], _Failed)]
    if failed:
        first = min(failed, key=lambda f: f.index)
        if failure is not None and failure[0].index == first.index:
            raise failure[1]
        if isinstance(first.error, FactoryError):
            raise first.error
        raise RuntimeError(
            f"{desc or 'map_shards'}: item {first.index} failed on rank {first.rank} "
            f"({first.kind}: {first.text}); see that rank's traceback (--debug)"
        )
    out: list[Any] = [None] * len(items)
    for r, results in enumerate(gathered):
        assert results is not None and len(results) == len(range(r, len(items), size))
        out[r::size] = results
    return out
