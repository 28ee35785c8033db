"""Host-to-device copies that do not make the host wait.

A copy from ordinary (pageable) host memory to a GPU blocks the host until the GPU has run everything queued
before it, so one such copy per step serialises the host with the device. From pinned memory, with non_blocking,
the copy is queued like a kernel; PyTorch's pinned-memory allocator keeps the buffer until the copy has run.
"""

from __future__ import annotations

import torch
from torch import Tensor


def host_to_device(values: Tensor, device: torch.device | str) -> Tensor:
    """A CPU tensor on `device`; for CUDA through pinned memory, without waiting."""
    device = torch.device(device)
    if device.type != "cuda" or values.device.type != "cpu":
        return values.to(device)
    return values.pin_memory().to(device, non_blocking=True)
