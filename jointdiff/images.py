"""Image conversions and files shared by every stage: [-1, 1] floats ↔ uint8, sample archives, PNG grids."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from jointdiff.atomic import atomic_write

if TYPE_CHECKING:  # torch is imported where it is used: the report's figures read images without it
    import torch

# What np.load and reading its arrays raise on a damaged or cut-short .npz (a file a cache or a resumed job
# reads back is then treated as missing).
NPZ_READ_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[N x C x H x W] floats in [-1, 1] → uint8 NHWC (rounded, clamped), on the CPU."""
    import torch
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu()


def from_uint8(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 0..255 → float32 in [-1, 1], the library's image convention; the layout is kept (NCHW in, NCHW out)."""
    import torch
    return torch.as_tensor(images).float() / 127.5 - 1.0


def grid(images: np.ndarray, nrow: int) -> np.ndarray:
    """uint8 NHWC → one uint8 H'xW'xC image with `nrow` images per row and a 2-pixel border."""
    n, h, w, c = images.shape
    rows = max(1, -(-n // nrow))
    out = np.zeros((rows * (h + 2) + 2, nrow * (w + 2) + 2, c), dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        out[2 + r * (h + 2):2 + r * (h + 2) + h, 2 + col * (w + 2):2 + col * (w + 2) + w] = images[i]
    return out


def save_png(image: np.ndarray, path: str | Path, scale: int = 1) -> None:
    """Write an HxWxC uint8 image (C = 1 or 3) as PNG, enlarged `scale` times (nearest), atomically."""
    from PIL import Image
    if image.shape[-1] == 1:
        image = image[..., 0]
    pil = Image.fromarray(image)
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.NEAREST)
    atomic_write(path, lambda f: pil.save(f, format="PNG"))


def save_grid(images: np.ndarray, path: str | Path, nrow: int) -> None:
    """uint8 NHWC images → a PNG grid, scaled up so small images stay visible."""
    h = images.shape[1]
    save_png(grid(images, nrow), path, scale=max(1, 128 // h))


def save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """np.savez to a temporary name, then rename: a sample file is either whole or absent."""
    atomic_write(path, lambda f: np.savez(f, **arrays))
