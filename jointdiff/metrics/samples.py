"""Sample images for metrics: read from a file, checked to be lossless uint8 N×C×H×W.

Accepted: an `.npz` whose `images` array is uint8 N×H×W×C (the sampling stage's format), or a directory of
`.png` files. JPEG is refused wherever it shows up, by name or by content: its compression artefacts shift
FID by whole points.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from jointdiff.errors import UserError
from jointdiff.images import NPZ_READ_ERRORS

log = logging.getLogger(__name__)

JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif")
JPEG_MAGIC = b"\xff\xd8\xff"


def check_uint8_images(images: torch.Tensor | np.ndarray, what: str) -> torch.Tensor:
    """`images` as a uint8 [N x C x H x W] tensor with C in (1, 3), or a UserError naming `what`."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise UserError(f"{what}: expected a uint8 image tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        raise UserError(f"{what}: images must be uint8 (0..255), got {images.dtype}; quantise floats in [-1, 1] "
                        "with ((x + 1) * 127.5).round().clamp(0, 255) before computing metrics")
    if images.dim() != 4 or images.shape[1] not in (1, 3) or images.shape[0] == 0:
        raise UserError(f"{what}: expected images shaped N x C x H x W with C = 1 or 3 and N > 0, "
                        f"got {tuple(images.shape)}")
    return images


def _is_jpeg(path: Path) -> bool:
    if path.suffix.lower() in JPEG_SUFFIXES:
        return True
    with open(path, "rb") as f:
        return f.read(len(JPEG_MAGIC)) == JPEG_MAGIC


def _read_npz(path: Path) -> torch.Tensor:
    try:
        with np.load(path, allow_pickle=False) as data:
            if "images" not in data.files:
                raise UserError(f"{path}: no 'images' array (found {', '.join(data.files) or 'nothing'})")
            images = data["images"]
    except NPZ_READ_ERRORS as err:
        raise UserError(f"{path}: not a readable .npz file ({err})") from err
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise UserError(f"{path}: 'images' must be N x H x W x C with C = 1 or 3, got {images.shape}")
    return check_uint8_images(np.ascontiguousarray(images.transpose(0, 3, 1, 2)), str(path))


def _read_png_dir(path: Path) -> torch.Tensor:
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    jpegs = [p.name for p in files if _is_jpeg(p)]
    if jpegs:
        raise UserError(f"{path}: holds JPEG files ({', '.join(jpegs[:3])}...); metrics need lossless PNG or npz")
    pngs = [p for p in files if p.suffix.lower() == ".png"]
    if not pngs:
        raise UserError(f"{path}: no .png files found")
    arrays = []
    for p in pngs:
        with Image.open(p) as image:
            arrays.append(np.asarray(image if image.mode == "L" else image.convert("RGB")))
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise UserError(f"{path}: the PNG files differ in size or channels ({sorted(shapes)[:3]})")
    stacked = np.stack(arrays)
    stacked = stacked[:, None] if stacked.ndim == 3 else stacked.transpose(0, 3, 1, 2)
    return check_uint8_images(np.ascontiguousarray(stacked), str(path))


def load_sample_images(path: str | Path) -> torch.Tensor:
    """Samples from an `.npz` file (uint8 NHWC `images`) or a directory of PNGs -> uint8 [N x C x H x W]."""
    path = Path(path)
    if path.is_dir():
        return _read_png_dir(path)
    if not path.is_file():
        raise UserError(f"--samples {path}: no such file or directory")
    if _is_jpeg(path):
        raise UserError(f"--samples {path}: JPEG is lossy and shifts FID; give an .npz of uint8 images or PNGs")
    if path.suffix.lower() != ".npz":
        raise UserError(f"--samples {path}: expected an .npz file (uint8 NHWC 'images') or a directory of PNGs")
    return _read_npz(path)


def read_sample_settings(path: str | Path) -> dict[str, Any] | None:
    """The sampler settings stored with an .npz of samples (JSON string `settings`), or None if there are none."""
    path = Path(path)
    if path.suffix.lower() != ".npz":
        return None
    with np.load(path, allow_pickle=False) as data:
        if "settings" not in data.files:
            return None
        text = str(data["settings"])
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        log.warning("%s: 'settings' is not JSON; recorded as text", path)
        return {"text": text}
