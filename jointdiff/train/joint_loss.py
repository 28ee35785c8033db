"""The joint training objective L = L_diff + s · L_cls (METHOD.md §2).

L_diff is the ε MSE at uniform timesteps. L_cls comes from a second pass through the ENCODER only (the decoder
gets no gradient from the classifier): the clean, augmented x0 at t = 0 (the paper's runs), or, with
`noised_classifier`, the very x_t and t of the denoising pass (not augmented: kornia's ops are defined on
images in [0, 1], not on noised x_t). Only labelled rows enter L_cls (y == -1, or a multi-label row with any
-1, is unlabelled); MixUp then mixes among labelled rows only, so every mixed target is known.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from jointdiff.diffusion import GaussianDiffusion
from jointdiff.model import JointDiffusionModel

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
               all_labelled: bool = False) -> dict[str, Tensor]:
    """One batch's losses.

    :param x0: [N, C, H, W] images in [-1, 1]; y: [N] classes or [N, K] attributes, -1 = unlabelled.
    :param scaling: s in L = w · L_diff + s · L_cls.
    :param diffusion_weight: w; 0 trains the encoder and head as a plain classifier (the paper's baseline).
    :param augment: the classifier's augmentation (x, soft targets) -> (x, soft targets), or None.
    :param t, noise: the denoising pass's timesteps [N] and ε [N, C, H, W]; drawn uniformly / N(0, I) from the
        global RNG when None (a trainer passes its own to make runs independent of the process count).
    :param all_labelled: the caller knows every row has its label: the labelled rows are then not counted on the
        device, which would wait for the GPU (a host sync) at every step.
    :return: scalar tensors `loss`, `diffusion`, `classifier` (0 without a head, or with fewer than two
        labelled rows: BatchNorm needs two; the zero-weight pass still puts every parameter in the graph),
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

    if noised_classifier:
        x_cls, t_cls = diffusion.q_sample(x0, t, noise), t
    else:
        x_cls, t_cls = x0, torch.zeros_like(t)
    targets, labelled = classifier_targets(y, model.head.fc_2.out_features, multi_label)
    count = x0.shape[0] if all_labelled else int(labelled.sum())
    if count < 2:
        l_cls = model.classify(x_cls, t_cls).sum() * 0.0
        stats = no_stats
    else:
        if not all_labelled:
            x_cls, t_cls, targets = x_cls[labelled], t_cls[labelled], targets[labelled]
        if augment is not None and not noised_classifier:
            x_cls, targets = augment(x_cls, targets)
        logits = model.classify(x_cls, t_cls)
        l_cls = classification_loss(logits, targets, multi_label)
        stats = {"accuracy": batch_accuracy(logits, targets, multi_label),
                 "labelled": torch.tensor(count, device=x0.device)}
    return {"loss": diffusion_weight * l_diff + scaling * l_cls, "diffusion": l_diff, "classifier": l_cls, **stats}
