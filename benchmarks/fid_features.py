"""FID feature throughput: torch-fidelity's TF-Inception (pool3) on uint8 images, NCHW against channels_last,
and jointdiff.metrics.features.extract_inception_features end to end (it builds the extractor, in
channels_last, on every call: its time includes loading the weights).

Features stay float32 with TF32 off (reduced precision would change FID), so there is no bf16 variant.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch_fidelity.utils import create_feature_extractor

from jointdiff.metrics.features import extract_inception_features
from jointdiff.metrics.inception import FEATURE_EXTRACTOR, POOL3, InceptionWeights
from jointdiff.gpu.precision import full_float32


def inception_extractors(weights: InceptionWeights, device: torch.device) -> dict[str, torch.nn.Module]:
    """{'fp32': NCHW extractor, 'fp32+cl': the same in channels_last}, in eval mode on `device`."""
    extractor = create_feature_extractor(FEATURE_EXTRACTOR, [POOL3], cuda=device.type == "cuda", verbose=False,
                                         feature_extractor_weights_path=str(weights.path)).eval()
    return {"fp32": extractor, "fp32+cl": copy.deepcopy(extractor).to(memory_format=torch.channels_last)}


def pool3(extractor: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """[N, 2048] float32 features of uint8 images [N, 3, H, W]."""
    with torch.no_grad(), full_float32():
        return extractor(images)[0]


def feature_calls(weights: InceptionWeights, device: torch.device, batch_size: int,
                  image_size: int = 32) -> dict[str, Callable[[], torch.Tensor]]:
    """{variant: features of one batch of random uint8 images} (Inception's cost does not depend on content)."""
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 3, image_size, image_size), dtype=torch.uint8, generator=gen)
    on_device = images.to(device)
    calls: dict[str, Callable[[], torch.Tensor]] = {
        name: (lambda net=net: pool3(net, on_device)) for name, net in inception_extractors(weights, device).items()}
    calls["extract_inception_features"] = lambda: extract_inception_features(
        images, weights, device=device.type, batch_size=batch_size)["2048"]
    return calls
