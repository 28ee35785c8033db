"""The torch Datasets the loaders return, and the DataLoader settings that keep a GPU fed.

Two kinds, both yielding `(x, y)` with x float32 C x H x W in [-1, 1]:

- `InMemoryDataset`: the whole split as one uint8 tensor (CIFAR10 train: 150 MB; CelebA 64 px train: 2 GB).
  Indexing is a tensor slice, so no worker processes are needed; `get_batch(indices)` returns a batch in one
  call, and `.to("cuda")` moves the uint8 tensor to the GPU once so batches never cross the bus again.
- `ImageFileDataset`: image files (CelebA, folder) decoded on every access, for splits too large to hold;
  it needs DataLoader workers (`loader_settings`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from jointdiff.data.image_shapes import decode_image
from jointdiff.images import from_uint8
from jointdiff.gpu.transfer import host_to_device

log = logging.getLogger(__name__)

DECODE_BATCH = 256  # images per worker task when decoding a whole split


class InMemoryDataset(Dataset):
    """images: uint8 [N x C x H x W]; labels: int64 [N] (-1 = unlabelled) or float32 [N x K]."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        assert images.dtype == torch.uint8 and images.dim() == 4 and len(images) == len(labels)
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return from_uint8(self.images[index]), self.labels[index]

    def get_batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x float32 [B x C x H x W] in [-1, 1] and y for the given indices, on the dataset's device (the
        indices reach a GPU without making the host wait)."""
        indices = host_to_device(indices, self.images.device)
        return from_uint8(self.images[indices]), self.labels[indices]

    def to(self, device: torch.device | str) -> InMemoryDataset:
        """The same data on `device` (a GPU copy makes get_batch free of host-to-device copies)."""
        return InMemoryDataset(self.images.to(device), self.labels.to(device))


class ImageFileDataset(Dataset):
    """Image files decoded on access: shorter side to `image_size`, centre crop, `channels` channels."""

    def __init__(self, paths: tuple[str, ...], labels: torch.Tensor, image_size: int, channels: int) -> None:
        assert len(paths) == len(labels)
        self.paths = paths
        self.labels = labels
        self.image_size = image_size
        self.channels = channels

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, index: int) -> torch.Tensor:
        """The image as uint8 C x H x W."""
        return decode_image(self.paths[index], self.image_size, self.channels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return from_uint8(self.read(index)), self.labels[index]


class _Uint8Images(Dataset):
    """An ImageFileDataset's images as uint8, for decoding a whole split in worker processes."""

    def __init__(self, files: ImageFileDataset) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.files.read(index)


def decode_all(files: ImageFileDataset, num_workers: int) -> torch.Tensor:
    """Every image of `files` as one uint8 [N x C x H x W] tensor, decoded by `num_workers` processes."""
    out = torch.empty((len(files), files.channels, files.image_size, files.image_size), dtype=torch.uint8)
    loader = DataLoader(_Uint8Images(files), batch_size=DECODE_BATCH, num_workers=num_workers)
    start = 0
    for batch in loader:
        out[start:start + len(batch)] = batch
        start += len(batch)
        if start // DECODE_BATCH % 100 == 0 or start == len(files):
            log.info("decoded %d / %d images (%s)", start, len(files), Path(files.paths[0]).parent)
    return out


def loader_settings(dataset: Dataset, device: torch.device | str, num_workers: int) -> dict[str, object]:
    """Keyword arguments for `DataLoader(dataset, ...)` that keep `device` fed.

    In memory: no workers (indexing a tensor is cheaper than shipping it between processes); for the fastest
    path skip the DataLoader and call `dataset.to(device).get_batch(indices)`. Image files: `num_workers`
    decoding processes kept alive across epochs, each with 4 batches in flight. Pinned memory whenever the
    batches go to a GPU, so the copy can overlap compute (`.to(device, non_blocking=True)`).
    """
    in_memory = isinstance(dataset, InMemoryDataset)
    on_host = not (in_memory and dataset.images.device.type != "cpu")
    pin = torch.device(device).type == "cuda" and on_host
    workers = 0 if in_memory else num_workers
    if workers == 0:
        return {"num_workers": 0, "pin_memory": pin, "persistent_workers": False}
    return {"num_workers": workers, "pin_memory": pin, "persistent_workers": True, "prefetch_factor": 4}
