"""An independent classifier, trained on a dataset's real training images, that scores conditional samples.

For small grey images such as the built-in `digits` (16×16, 10 classes) Inception features say little, so
"does a sample of class y look like a y?" is asked of a small CNN that never saw the joint model: the share
of samples it assigns to their target class (`target_accuracy`). The network ends in global average
pooling, so one definition serves every image size. Training is seeded (initialisation, order, shifts) and
takes seconds on a CPU for `digits`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from jointdiff.atomic import atomic_write
from jointdiff.errors import CheckpointError, UserError
from jointdiff.images import from_uint8
from jointdiff.metrics.samples import check_uint8_images

log = logging.getLogger(__name__)

FILE_FORMAT = "jointdiff-independent-classifier"
FILE_VERSION = 1
MAX_SHIFT = 2  # pixels of random translation during training, so samples slightly off-centre still count


class IndependentCNN(nn.Module):
    """Three conv blocks (stride 1, 2, 2), global average pooling, a linear layer."""

    def __init__(self, in_channels: int, num_classes: int, width: int = 32):
        super().__init__()
        self.in_channels, self.num_classes, self.width = in_channels, num_classes, width
        blocks, channels = [], in_channels
        for out, stride in ((width, 1), (2 * width, 2), (4 * width, 2)):
            blocks += [nn.Conv2d(channels, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            channels = out
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float [N x C x H x W] in [-1, 1] -> logits [N x num_classes]."""
        return self.head(self.features(x))


def _random_shift(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Translate the batch by up to MAX_SHIFT pixels each way (edge pixels repeated)."""
    h, w = x.shape[-2:]
    i, j = torch.randint(0, 2 * MAX_SHIFT + 1, (2,), generator=generator).tolist()
    return F.pad(x, (MAX_SHIFT,) * 4, mode="replicate")[..., i:i + h, j:j + w]


def _check_labels(labels: torch.Tensor, n: int, what: str) -> torch.Tensor:
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or len(labels) != n or labels.is_floating_point() or (len(labels) and labels.min() < 0):
        raise UserError(f"{what}: expected {n} non-negative integer class labels, got shape "
                        f"{tuple(labels.shape)} ({labels.dtype})")
    return labels.long()


def train_independent_classifier(images: torch.Tensor, labels: torch.Tensor, *, epochs: int = 15, seed: int = 0,
                               num_classes: int | None = None, batch_size: int = 64, lr: float = 2e-3,
                               width: int = 32, device: torch.device | str = "cpu") -> IndependentCNN:
    """Train a IndependentCNN on uint8 `images` [N x C x H x W] with class `labels` [N] on `device`, seeded (the
    order and shifts on the CPU, so a GPU run sees the same batches)."""
    images = check_uint8_images(images, "independent classifier training images")
    labels = _check_labels(labels, len(images), "independent classifier training labels")
    num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = IndependentCNN(images.shape[1], num_classes, width).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, epochs=epochs,
                                                    steps_per_epoch=-(-len(images) // batch_size))
    x_all, labels = from_uint8(images).to(device), labels.to(device)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for batch in order.to(device).split(batch_size):
            loss = F.cross_entropy(model(_random_shift(x_all[batch], generator)), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.detach() * len(batch)
        log.debug("independent classifier epoch %d: loss %.4f", epoch + 1, float(total) / len(images))
    return model.eval()


@torch.no_grad()
def classify_images(model: IndependentCNN, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Predicted classes [N] of uint8 `images` [N x C x H x W]."""
    images = check_uint8_images(images, "images to classify")
    if images.shape[1] != model.in_channels:
        raise UserError(f"images have {images.shape[1]} channels but the independent classifier was trained on "
                        f"{model.in_channels}")
    model.eval()
    device = next(model.parameters()).device
    return torch.cat([model(from_uint8(chunk).to(device)).argmax(dim=1).cpu() for chunk in images.split(batch_size)])


def target_accuracy(model: IndependentCNN, samples: torch.Tensor, target_labels: torch.Tensor) -> float:
    """Share of uint8 `samples` [N x C x H x W] that the classifier assigns to their `target_labels` [N]."""
    targets = _check_labels(target_labels, len(samples), "target labels")
    return float((classify_images(model, samples) == targets).float().mean())


def save_independent_classifier(model: IndependentCNN, path: str | Path,
                                metadata: dict[str, Any] | None = None) -> Path:
    """Write the classifier (weights, shape, metadata such as dataset and held-out accuracy) atomically."""
    payload = {"format": FILE_FORMAT, "version": FILE_VERSION, "in_channels": model.in_channels,
               "num_classes": model.num_classes, "width": model.width, "state_dict": model.state_dict(),
               "metadata": dict(metadata or {})}
    return atomic_write(path, lambda f: torch.save(payload, f))


def load_independent_classifier(path: str | Path) -> tuple[IndependentCNN, dict[str, Any]]:
    """Read a classifier written by `save_independent_classifier` -> (model in eval mode, metadata)."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as err:
        raise CheckpointError(f"{path}: no such independent classifier file") from err
    except Exception as err:  # any unreadable file is the user's to fix
        raise CheckpointError(f"{path}: not a readable independent classifier ({err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        raise CheckpointError(f"{path}: not a {FILE_FORMAT} file")
    model = IndependentCNN(payload["in_channels"], payload["num_classes"], payload["width"])
    model.load_state_dict(payload["state_dict"])
    return model.eval(), payload["metadata"]
