"""The floating-point precision of matmuls and convolutions on a GPU, as the authors ran it.

The authors pinned torch 1.11, whose defaults let cuBLAS matmuls and cuDNN convolutions run in TF32 (fp32 range,
a 10-bit mantissa) on Ampere and newer GPUs; later torch releases turned matmul TF32 off by default. Paper runs
follow the authors: `tf32` (an experiment setting, true by default) holds for training and for every command that
runs the trained model, which reads it from the model file's config. EDM turns TF32 off in its training loop; the
authors did not. The Inception features of FID stay in full float32 (`full_float32`), so that they stay
comparable with the reference implementations. Every metric file records what its numbers were computed with
(`numerics`). CPUs have no TF32: there the setting changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def set_precision(tf32: bool, *, benchmark: bool | None = None) -> None:
    """TF32 on or off for matmuls and convolutions; `benchmark` (cuDNN's search for the fastest convolution of
    each input shape, worth it for training's fixed shapes) is left as it is when None."""
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    if benchmark is not None:
        torch.backends.cudnn.benchmark = benchmark


@contextlib.contextmanager
def precision(tf32: bool, *, benchmark: bool | None = None) -> Iterator[None]:
    """`set_precision` inside the block, the previous settings restored after."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark)
    set_precision(tf32, benchmark=benchmark)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved


def full_float32() -> contextlib.AbstractContextManager[None]:
    """TF32 off in cuBLAS and cuDNN inside the block (Inception features), the previous settings restored after."""
    return precision(False)


def numerics(device: torch.device | str) -> dict[str, object]:
    """What the matmuls and convolutions run now compute with on `device`, for a metric file: TF32 only on CUDA,
    and only where both cuBLAS and cuDNN allow it."""
    device = torch.device(device)
    tf32 = device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    return {"device": device.type, "tf32": bool(tf32)}
