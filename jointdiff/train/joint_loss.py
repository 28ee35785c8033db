"""The joint training objective L = w · L_diff + s · L_cls.

L_diff is the ε MSE at uniform timesteps. L_cls comes from a second pass through the ENCODER only (the decoder
gets no gradient from the classifier): the clean, augmented x0 at t = 0 (the paper's runs), or, with
`noised_classifier`, the augmented x0 noised with the very t and ε of the denoising pass. (The authors augmented x_t
itself: kornia's intensity ops clamp it to [0, 1] and its geometric ops resample the noise; augmenting the image
before noising it keeps x_t a draw of q(x_t | x0).) With hidden labels (y == -1, or a multi-label row with any -1)
the classifier term comes from a `LabelledBuffer`, as in the authors' code.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from jointdiff.diffusion import GaussianDiffusion
from jointdiff.model import JointDiffusionModel
from jointdiff.train.labelled_buffer import LabelledBuffer

Augment = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def classifier_targets(y: Tensor, num_outputs: int, multi_label: bool) -> tuple[Tensor, Tensor]:
    """Soft targets [N, K] (one-hot rows, or the attribute vectors) and the labelled-row mask [N] bool.

    y: [N] int64 classes, or [N, K] attribute vectors for multi-label data; -1 marks a missing label.
    """
    if multi_label:
        assert y.dim() == 2 and y.shape[1] == num_outputs, f"expected [N, {num_outputs}] attributes"
        return y.float().clamp(min=0), (y >= 0).all(dim=1)
    assert y.dim() == 1, "expected [N] class indices"
    return F.one_hot(y.clamp(min=0), num_outputs).float(), y >= 0


def classification_loss(logits: Tensor, targets: Tensor, multi_label: bool) -> Tensor:
    """Batch-mean cross-entropy with soft targets, or BCE-with-logits averaged over batch and attributes."""
    if multi_label:
        return F.binary_cross_entropy_with_logits(logits, targets)
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


def batch_accuracy(logits: Tensor, targets: Tensor, multi_label: bool) -> Tensor:
    """Detached accuracy: argmax against the dominant target class (after MixUp, the larger share), or the
    mean over attributes of (logit > 0) == (target > 0.5)."""
    with torch.no_grad():
        if multi_label:
            return ((logits > 0) == (targets > 0.5)).float().mean()
        return (logits.argmax(dim=1) == targets.argmax(dim=1)).float().mean()


def joint_loss(model: JointDiffusionModel, diffusion: GaussianDiffusion, x0: Tensor, y: Tensor, *,
               scaling: float, noised_classifier: bool, multi_label: bool, augment: Augment | None = None,
               t: Tensor | None = None, noise: Tensor | None = None, diffusion_weight: float = 1.0,
               buffer: LabelledBuffer | None = None) -> dict[str, Tensor]:
    """One batch's losses.

    :param x0: [N, C, H, W] images in [-1, 1]; y: [N] classes or [N, K] attributes, -1 = unlabelled.
    :param scaling: s in L = w · L_diff + s · L_cls.
    :param diffusion_weight: w; 0 trains the encoder and head as a plain classifier (the paper's baseline).
    :param augment: the classifier's augmentation (x, soft targets) -> (x, soft targets), or None.
    :param t, noise: the denoising pass's timesteps [N] and ε [N, C, H, W]; drawn uniformly / N(0, I) from the
        global RNG when None (a trainer passes its own to make runs independent of the process count).
    :param buffer: the semi-supervised buffer, for data with hidden labels; None means every label is known
        (nothing is counted on the device then, which would wait for the GPU at every step).
    :return: scalar tensors `loss`, `diffusion`, `classifier` (0 without a head, and while the buffer fills),
        and detached `accuracy` and `labelled` (rows in L_cls; accuracy is 0 when that is 0, so average
        accuracy weighted by `labelled`).
    """
    if t is None:
        t = diffusion.sample_timesteps(x0.shape[0], x0.device)
    if noise is None:
        noise = torch.randn_like(x0)
    denoiser_y = y if model.unet.label_emb is not None else None
    l_diff = diffusion.diffusion_loss(lambda x_t, t_: model(x_t, t_, denoiser_y), x0, t, noise)
    no_stats = {"accuracy": torch.zeros((), device=x0.device),
                "labelled": torch.zeros((), dtype=torch.long, device=x0.device)}
    if model.head is None:
        return {"loss": l_diff, "diffusion": l_diff, "classifier": torch.zeros_like(l_diff), **no_stats}

    targets, labelled = classifier_targets(y, model.head.fc_2.out_features, multi_label)
    this_batch = buffer is None or bool(labelled.all())
    taken = (x0, targets) if this_batch else buffer.take(x0, targets, labelled)
    if taken is None:  # the buffer is filling: no classifier step, but BatchNorm sees the batch
        x_cls = x0 if augment is None else augment(x0, targets)[0]
        l_cls = model.classify(x_cls, torch.zeros_like(t)).sum() * 0.0
        return {"loss": diffusion_weight * l_diff + l_cls, "diffusion": l_diff, "classifier": l_cls.detach(),
                **no_stats}
    x_cls, targets = taken if augment is None else augment(*taken)
    if noised_classifier and this_batch:  # the authors' buffered step is always on clean images at t = 0
        x_cls, t_cls = diffusion.q_sample(x_cls, t, noise), t
    else:
        t_cls = torch.zeros(len(x_cls), dtype=torch.long, device=x0.device)
    logits = model.classify(x_cls, t_cls)
    l_cls = classification_loss(logits, targets, multi_label)
    stats = {"accuracy": batch_accuracy(logits, targets, multi_label),
             "labelled": torch.tensor(len(x_cls), device=x0.device)}
    return {"loss": diffusion_weight * l_diff + scaling * l_cls, "diffusion": l_diff, "classifier": l_cls, **stats}
