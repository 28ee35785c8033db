"""Classifier augmentation: [-1, 1] in and out, the dark half kept, MixUp mixing the targets with the images."""

import subprocess
import sys

import pytest
import torch

from jointdiff.train.augment import AUGMENTATION_SETTINGS, ClassifierAugmentation, build_augmentation
from jointdiff.config import PAPER_AUGMENTATIONS, load_config

torch.set_num_threads(1)  # tiny models on a shared 2-core CPU: extra threads cost more than they save


def test_empty_list_is_identity_without_importing_kornia():
    code = ("import sys, torch; from jointdiff.train.augment import ClassifierAugmentation as A; "
            "x, y = torch.rand(3, 1, 4, 4), torch.rand(3, 2); a, b = A((), 4, 1)(x, y); "
            "assert a is x and b is y; assert 'kornia' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert build_augmentation(load_config(flags="--dataset digits --classifier_augmentation none")) is None


def test_every_paper_name_is_known():
    assert set(PAPER_AUGMENTATIONS) == set(AUGMENTATION_SETTINGS)
    with pytest.raises(ValueError, match="blur"):
        ClassifierAugmentation(["blur"], 8, 1)
    assert "color_jitter" not in ClassifierAugmentation(PAPER_AUGMENTATIONS, 8, 1).names


@pytest.mark.parametrize("channels", [1, 3])
def test_paper_list_keeps_range_and_shape(channels):
    torch.manual_seed(0)
    aug = build_augmentation(load_config(flags=f"--dataset {'digits' if channels == 1 else 'CIFAR10'} "
                                               "--image_size 16 --classifier_augmentation paper"))
    x = torch.rand(32, channels, 16, 16) * 2 - 1
    y = torch.eye(10)[torch.randint(0, 10, (32,))]
    out, y_out = aug(x, y)
    assert out.shape == x.shape and y_out.shape == y.shape
    assert out.min() >= -1 and out.max() <= 1
    torch.testing.assert_close(y_out.sum(dim=1), torch.ones(32))


@pytest.mark.parametrize("name", ["contrast", "sharpness", "brightness", "color_jitter"])
def test_intensity_ops_keep_the_dark_half(name):
    """Fed [-1, 1] directly, kornia clamps every negative pixel to 0; mapped to [0, 1] they stay dark."""
    torch.manual_seed(0)
    x = torch.full((64, 3, 8, 8), -0.8)
    x[:, :, :, 4:] = 0.6
    out, _ = ClassifierAugmentation([name], 8, 3)(x, torch.zeros(64, 1))
    assert out.min() >= -1 and out.max() <= 1
    changed = (out - x).abs().amax(dim=(1, 2, 3)) > 1e-4
    assert changed.sum() >= 5  # p = 0.25 per sample
    dark_stays_dark = (out[changed][:, :, :, :4] < 0).flatten(1).all(dim=1).float().mean()
    assert dark_stays_dark > 0.5  # brightness may legitimately lift the dark half (factor up to 1.8)


def mixup_runs(y, seeds=range(12)):
    """Images whose pixel value encodes their row's targets, so a mixed image reveals its mixing weights."""
    aug = ClassifierAugmentation(["mixup"], 4, 1)
    values = torch.linspace(-0.9, 0.9, y.shape[1])
    x = (y @ values).reshape(-1, 1, 1, 1).expand(-1, 1, 4, 4).contiguous()
    for seed in seeds:
        torch.manual_seed(seed)
        out, y_out = aug(x, y)
        yield x, out, y_out, values


def test_mixup_mixes_labels_like_images():
    y = torch.eye(8)
    mixed_batches = 0
    for x, out, y_out, values in mixup_runs(y):
        torch.testing.assert_close(y_out.sum(dim=1), torch.ones(8))
        assert y_out.min() >= 0
        # the image is (1-λ)x_i + λx_j and the target (1-λ)y_i + λy_j: the image value equals y_out · values
        torch.testing.assert_close(out[:, 0, 0, 0], y_out @ values, atol=1e-5, rtol=1e-5)
        mixed_batches += int(not torch.equal(y_out, y))
    assert mixed_batches >= 3  # MixUp is applied to a batch with p = 0.5


def test_mixup_mixes_attribute_vectors():
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    for x, out, y_out, values in mixup_runs(y):
        assert y_out.min() >= 0 and y_out.max() <= 1
        torch.testing.assert_close(out[:, 0, 0, 0], y_out @ values, atol=1e-5, rtol=1e-5)
