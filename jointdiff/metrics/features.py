"""Inception features of uint8 images, computed by torch-fidelity's own extractor and batching code.

Images go in as uint8 N×C×H×W with C = 1 or 3; grey images are repeated to 3 channels one at a time, so a large
set is never copied. torch-fidelity resizes with its TF1.x-exact bilinear filter to 299×299 and normalises
with (x − 128) / 128, as the TF graph did. TF32 is switched off while features are computed
(`precision.full_float32`), so that an Ampere or newer GPU gives full float32 convolutions and matrix products,
whatever the model used. A hook on the extractor counts the images it has seen, so a run of minutes shows its
progress (`jointdiff.progress`) without changing torch-fidelity's batching.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from torch.utils.data import Dataset
from torch_fidelity.utils import create_feature_extractor, get_featuresdict_from_dataset

from jointdiff.distributed import resolve_device
from jointdiff.metrics.inception import FEATURE_EXTRACTOR, POOL3, InceptionWeights
from jointdiff.gpu.precision import full_float32
from jointdiff.progress import progress

log = logging.getLogger(__name__)


class UInt8Images(Dataset):
    """A uint8 N×C×H×W tensor as torch-fidelity's input: item i is a 3×H×W uint8 tensor."""

    def __init__(self, images: torch.Tensor):
        assert images.dtype == torch.uint8 and images.dim() == 4 and images.shape[1] in (1, 3), images.shape
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        image = self.images[i]
        return image.expand(3, -1, -1).contiguous() if image.shape[0] == 1 else image


def extract_inception_features(images: torch.Tensor, weights: InceptionWeights, *,
                               layers: Sequence[str] = (POOL3,), device: str = "auto", batch_size: int = 64,
                               desc: str = "Inception features") -> dict[str, torch.Tensor]:
    """Features of uint8 `images` [N x C x H x W] -> {layer: float32 [N x D]} (pool3: D = 2048), on CPU;
    `desc` names the images in the progress report."""
    cuda = resolve_device(device).type == "cuda"  # torch-fidelity runs on "the" GPU (.cuda()) or the CPU
    log.info("Inception features of %d images (%s, %s)", images.shape[0], weights.extractor_id,
             "cuda" if cuda else "cpu")
    with full_float32():
        extractor = create_feature_extractor(FEATURE_EXTRACTOR, list(layers), cuda=cuda, verbose=False,
                                             feature_extractor_weights_path=str(weights.path))
        # channels_last lets oneDNN use its NHWC convolutions: 1.3-1.6x faster on CPU, features equal to 2e-6.
        extractor = extractor.to(memory_format=torch.channels_last)
        with progress(images.shape[0], desc=desc, unit="image") as bar:
            def count(module, inputs, output) -> None:  # returns None: a hook's return value replaces the output
                bar.update(inputs[0].shape[0])
            extractor.register_forward_hook(count)
            # save_cpu_ram: no DataLoader worker processes (the data is already in memory).
            return get_featuresdict_from_dataset(UInt8Images(images), extractor, batch_size, cuda,
                                                 save_cpu_ram=True, verbose=False)
