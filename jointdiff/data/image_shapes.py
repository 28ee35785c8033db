"""Image shape conversions shared by every dataset: resize and channels (uint8 in, uint8 out).

Arrays (MNIST, CIFAR, ...) are converted all at once with torch; image files (CelebA, folder) one by one with
PIL. Both resize the shorter side to the target with bilinear, antialiased filtering and then crop the centre,
so a square array and a square file end up the same way.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from jointdiff.errors import ConfigError

RESIZE_CHUNK = 4096  # images resized per call: bounds the float copy's memory
# ITU-R 601 luma weights, the ones PIL's convert("L") uses, so arrays and files turn grey the same way.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def check_shape(image_size: int, channels: int) -> None:
    """Fail early, naming the argument, on shapes no dataset can be converted to."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ConfigError(f"image_size must be a positive integer, got {image_size!r}")
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")


def resized_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """Shorter side to `size`, the longer scaled and truncated as torchvision's Resize(int) does."""
    if height <= width:
        return size, int(size * width / height)
    return int(size * height / width), size


def crop_offsets(height: int, width: int, size: int) -> tuple[int, int]:
    """Top-left corner of a centred size x size crop, rounded as torchvision's CenterCrop does."""
    return int(round((height - size) / 2.0)), int(round((width - size) / 2.0))


def resize_center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 N x C x H x W -> uint8 N x C x size x size (shorter side to size, then centre crop)."""
    assert images.dtype == torch.uint8 and images.dim() == 4
    height, width = images.shape[-2:]
    if (height, width) == (size, size):
        return images
    new_h, new_w = resized_shape(height, width, size)
    top, left = crop_offsets(new_h, new_w, size)
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], RESIZE_CHUNK):
        chunk = images[start:start + RESIZE_CHUNK].float()
        chunk = F.interpolate(chunk, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
        out[start:start + RESIZE_CHUNK] = chunk[..., top:top + size, left:left + size].round().clamp(0, 255)
    return out


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 N x C x H x W -> uint8 N x channels x H x W: grey is repeated, RGB is turned to luma."""
    have = images.shape[1]
    if have == channels:
        return images
    if channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)
    return (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


def convert_array(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """A whole uint8 N x C x H x W array to the requested size and channels."""
    return convert_channels(resize_center_crop(images, size), channels)


def decode_image(path: str | Path, size: int, channels: int) -> torch.Tensor:
    """One image file -> uint8 channels x size x size (shorter side to size, centre crop)."""
    with Image.open(path) as img:
        img = img.convert("RGB" if channels == 3 else "L")
    new_h, new_w = resized_shape(img.height, img.width, size)
    if (new_h, new_w) != (img.height, img.width):
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    top, left = crop_offsets(new_h, new_w, size)
    img = img.crop((left, top, left + size, top + size))
    pixels = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8)
    return pixels.view(size, size, channels).permute(2, 0, 1).contiguous()

