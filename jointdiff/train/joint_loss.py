"""The joint training objective L = w · L_diff + s · L_cls.

L_diff is the ε MSE at uniform timesteps. L_cls comes from a second pass through the ENCODER only (the decoder
gets no gradient from the classifier): the clean, augmented x0 at t = 0 (the paper's runs), or, with
`head_sees_x_t` (the seed's flag `train_noised_classifier`), the augmented x0 noised with the very t and ε of the
denoising pass. (The authors augmented x_t itself: kornia's intensity ops clamp it to [0, 1] and its geometric ops
resample the noise; augmenting the image before noising it keeps x_t a draw of q(x_t | x0).) With hidden labels (y == -1, or a multi-label row with any -1)
the classifier term comes from the semi-supervised buffer (`LabelledBuffer`), as in the authors' code: the step
runner hands each micro-batch its `ClassifierRows`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from jointdiff.diffusion import GaussianDiffusion
from jointdiff.model import JointDiffusionModel

Augment = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


@dataclass
class ClassifierRows:
    """A semi-supervised micro-batch's classifier term: its share of a classifier step's buffered images and
    labels, whose summed loss is multiplied by `weight`; no images while the buffer fills (the head then runs on
    the batch with its loss multiplied by 0). A share may be empty: the other ranks hold the step's rows."""
    images: Tensor | None = None
    labels: Tensor | None = None
    weight: float = 0.0


def classifier_targets(y: Tensor, num_outputs: int, multi_label: bool) -> tuple[Tensor, Tensor]:
    """Soft targets [N, K] (one-hot rows, or the attribute vectors) and the labelled-row mask [N] bool.

    y: [N] int64 classes, or [N, K] attribute vectors for multi-label data; -1 marks a missing label.
    """
    if multi_label:
        assert y.dim() == 2 and y.shape[1] == num_outputs, f"expected [N, {num_outputs}] attributes"
        return y.float().clamp(min=0), (y >= 0).all(dim=1)
    assert y.dim() == 1, "expected [N] class indices"
    return F.one_hot(y.clamp(min=0), num_outputs).float(), y >= 0


def row_losses(logits: Tensor, targets: Tensor, multi_label: bool) -> Tensor:
    """[N] cross-entropies with soft targets, or BCE-with-logits averaged over the attributes."""
    if multi_label:
        return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(dim=1)
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1)


def classification_loss(logits: Tensor, targets: Tensor, multi_label: bool) -> Tensor:
    """Batch-mean cross-entropy with soft targets, or BCE-with-logits averaged over batch and attributes."""
    return row_losses(logits, targets, multi_label).mean()


def batch_accuracy(logits: Tensor, targets: Tensor, multi_label: bool) -> Tensor:
    """Detached accuracy: argmax against the dominant target class (after MixUp, the larger share), or the
    mean over attributes of (logit > 0) == (target > 0.5); 0 for no rows."""
    with torch.no_grad():
        if multi_label:
            correct = ((logits > 0) == (targets > 0.5)).float().mean(dim=1)
        else:
            correct = (logits.argmax(dim=1) == targets.argmax(dim=1)).float()
        return correct.sum() / max(len(logits), 1)


def joint_loss(model: JointDiffusionModel, diffusion: GaussianDiffusion, x0: Tensor, y: Tensor, *,
               scaling: float, head_sees_x_t: bool, multi_label: bool, augment: Augment | None = None,
               t: Tensor | None = None, noise: Tensor | None = None, diffusion_weight: float = 1.0,
               buffered: ClassifierRows | None = None) -> dict[str, Tensor]:
    """One batch's losses.

    :param x0: [N, C, H, W] images in [-1, 1]; y: [N] classes or [N, K] attributes, -1 = unlabelled.
    :param scaling: s in L = w · L_diff + s · L_cls.
    :param diffusion_weight: w; 0 trains the encoder and head as a plain classifier (the paper's baseline).
    :param augment: the classifier's augmentation (x, soft targets) -> (x, soft targets), or None.
    :param t, noise: the denoising pass's timesteps [N] and ε [N, C, H, W]; drawn uniformly / N(0, I) from the
        global RNG when None (a trainer passes its own to make runs independent of the process count).
    :param buffered: the classifier term of data with hidden labels (see ClassifierRows); None means every
        label is known and the classifier trains on this batch.
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

    num_outputs = model.head.fc_2.out_features
    if buffered is not None and buffered.images is None:  # the buffer is filling: BatchNorm sees the batch
        x_cls = x0 if augment is None else augment(x0, classifier_targets(y, num_outputs, multi_label)[0])[0]
        l_cls = model.classify(x_cls, torch.zeros_like(t)).sum() * 0.0
        return {"loss": diffusion_weight * l_diff + l_cls, "diffusion": l_diff, "classifier": l_cls.detach(),
                **no_stats}
    x_cls, labels = (x0, y) if buffered is None else (buffered.images, buffered.labels)
    targets = classifier_targets(labels, num_outputs, multi_label)[0]
    if augment is not None and len(x_cls):
        x_cls, targets = augment(x_cls, targets)
    if head_sees_x_t and buffered is None:  # the authors' buffered step is always on clean images at t = 0
        x_cls, t_cls = diffusion.q_sample(x_cls, t, noise), t
    else:
        t_cls = torch.zeros(len(x_cls), dtype=torch.long, device=x0.device)
    logits = model.classify(x_cls, t_cls)
    losses = row_losses(logits, targets, multi_label)
    l_cls = losses.mean() if buffered is None else losses.sum() * buffered.weight
    stats = {"accuracy": batch_accuracy(logits, targets, multi_label),
             "labelled": torch.full((), len(x_cls), dtype=torch.long, device=x0.device)}
    return {"loss": diffusion_weight * l_diff + scaling * l_cls, "diffusion": l_diff, "classifier": l_cls, **stats}
