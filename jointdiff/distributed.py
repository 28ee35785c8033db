"""Processes and devices: one code path for 1 process and N processes under torchrun.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; without them this is a single process. The backend is NCCL
when every rank has a GPU and gloo otherwise (CPU tests run 2 gloo processes). Every command picks its device
through `resolve_device`, so `--device auto|cpu|cuda` means the same everywhere.
"""

from __future__ import annotations

import datetime
import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from jointdiff.atomic import exclusive_lock
from jointdiff.choices import DEVICES
from jointdiff.errors import ConfigError, UserError
from jointdiff.jobs.gpus import JOB_GPUS_ENV

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str, index: int = -1) -> torch.device:
    """--device auto (CUDA when torch sees a GPU), cpu or cuda -> a torch.device; cuda with index >= 0 is that
    GPU. A ConfigError names the flag when CUDA is asked for but absent."""
    if name not in DEVICES:
        raise ConfigError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}")
    use_cuda = torch.cuda.is_available() if name == "auto" else name == "cuda"
    if not use_cuda:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but torch sees no CUDA GPU "
                          f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})")
    check_job_gpus(torch.cuda.device_count())
    if index >= torch.cuda.device_count():
        raise ConfigError(f"GPU {index} was asked for, but only {torch.cuda.device_count()} are visible")
    return torch.device("cuda", index) if index >= 0 else torch.device("cuda")


def check_job_gpus(visible: int, environ=os.environ) -> None:
    """A workflow job (`jointdiff launch`) must see exactly the GPUs it holds: fail before spending them on a wrong
    run (a scheduler whose job step hides some, a CUDA_VISIBLE_DEVICES naming a GPU that is not there)."""
    held = environ.get(JOB_GPUS_ENV)
    if held is not None and int(held) != visible:
        raise ConfigError(f"this job holds {held} GPU(s) (CUDA_VISIBLE_DEVICES="
                          f"{environ.get('CUDA_VISIBLE_DEVICES', 'unset')}) but torch sees {visible}")


def init_distributed(device: str = "auto", gpu_id: int = -1) -> DistInfo:
    """Join the process group (if under torchrun) and pick this process's device.

    device: "auto" (CUDA when available), "cpu" or "cuda". gpu_id picks the GPU of a single-process run;
    under torchrun LOCAL_RANK decides, so gpu_id must stay -1 there.
    """
    rank = int(os.environ.get("RANK", 0))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    if world_size > 1 and gpu_id >= 0:
        raise ConfigError(f"--gpu_id {gpu_id} cannot be used under torchrun with {world_size} processes: each "
                          "process takes the GPU of its LOCAL_RANK (use CUDA_VISIBLE_DEVICES to choose GPUs)")
    dev = resolve_device(device, local_rank if world_size > 1 or gpu_id < 0 else gpu_id)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
        log.info("rank %d/%d joined the %s process group on %s", rank, world_size, backend, dev)
    return DistInfo(rank, local_rank, world_size, dev)


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    if not dist.is_initialized():
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


@contextmanager
def main_rank_lock(path: str | Path, what: str, info: DistInfo) -> Iterator[None]:
    """Rank 0 holds `atomic.exclusive_lock(path, what)` for the block, so one launch (all of its processes) writes
    the output; when it cannot, every rank raises (rank 0 the holder's name, the others a pointer to rank 0)."""
    with ExitStack() as held:
        refused = None
        if info.is_main:
            try:
                held.enter_context(exclusive_lock(path, what))
            except UserError as err:
                refused = err
        if all_reduce_sum(torch.tensor(float(refused is not None), device=info.device)).item():
            raise refused or UserError(f"rank 0 could not lock {what} (its error says who holds it)")
        yield


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
