"""Linear probes of a frozen model's encoder (ours; the paper's motivating observation): how much class information
each encoder block holds at each noise level, for a plain diffusion model and for the joint model beside it.

For every encoder block (each `input_blocks` output and the middle block, as the joint head reads them) and each
timestep t, the images are noised to x_t (seeded; t = 0 reads the clean images), the block's activations are
average-pooled over space, standardised, and a multinomial logistic regression (scikit-learn's L2, C = 1) is fitted
on the training split; the test split at the same t scores it. The model is not changed. Labels: every labelled
training image, whatever share the model itself was trained with (a probe measures the representation, not the
run's labels).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from jointdiff import keys as K
from jointdiff.data.loaders import load_split
from jointdiff.data.specs import get_spec
from jointdiff.errors import UserError
from jointdiff.model import load_trained

log = logging.getLogger(__name__)

PROBE = "standardised pooled activations, multinomial logistic regression (scikit-learn, L2, C = 1, lbfgs)"
MAX_ITER = 2000
SUBSET_SEED = 0


@torch.no_grad()
def pooled_activations(model, dataset, indices: torch.Tensor, t: int, diffusion, device: torch.device,
                       batch_size: int) -> tuple[list[torch.Tensor], list[tuple[int, int]]]:
    """Per encoder block, the pooled activations [N, C_k] of the images at `indices` noised to t (seeded), and
    each block's (resolution, channels); the middle block comes last."""
    gen = torch.Generator().manual_seed(SUBSET_SEED)
    pooled: list[list[torch.Tensor]] = []
    shapes: list[tuple[int, int]] = []
    for start in range(0, len(indices), batch_size):
        x, _ = dataset.get_batch(indices[start:start + batch_size])
        tt = torch.full((len(x),), t, dtype=torch.long)
        if t > 0:
            x = diffusion.q_sample(x, tt, torch.randn(x.shape, generator=gen))
        enc = model.unet.encode(x.to(device), tt.to(device))
        blocks = [*enc.hs, enc.h]
        if not pooled:
            pooled = [[] for _ in blocks]
            shapes = [(int(a.shape[-1]), int(a.shape[1])) for a in blocks]
        for store, a in zip(pooled, blocks):
            store.append(a.mean(dim=(2, 3)).float().cpu())
    return [torch.cat(p) for p in pooled], shapes


def fit_probe(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor) -> float:
    """Test accuracy of a logistic regression fitted on standardised training features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=MAX_ITER))
    probe.fit(train_x.double().numpy(), train_y.numpy())
    return float(probe.score(test_x.double().numpy(), test_y.numpy()))


def probe_report(model_path: str | Path, dataroot: str | Path, *, t_fractions: list[float], weights: str = "ema",
                 train_images: int = 0, batch_size: int = 256, device: torch.device | str = "cpu") -> dict[str, Any]:
    """The content of probe_<weights>.json: test accuracy per encoder block (rows) and timestep (columns).

    train_images: fit on a seeded subset of this many labelled training images (0 = all of them).
    """
    trained = load_trained(model_path, weights, device)
    cfg = trained.cfg
    if get_spec(cfg.dataset).multi_label:
        raise UserError(f"{model_path}: the probe scores classes; {cfg.dataset} is multi-label")
    shape = dict(image_size=cfg.resolved_image_size(), channels=cfg.resolved_channels())
    train = load_split(cfg.dataset, dataroot, "train", **shape)
    test = load_split(cfg.dataset, dataroot, "test", **shape)
    labelled = torch.nonzero(train.labels >= 0).flatten()
    if train_images and train_images < len(labelled):
        pick = torch.randperm(len(labelled), generator=torch.Generator().manual_seed(SUBSET_SEED))[:train_images]
        labelled = labelled[pick.sort().values]
    T = trained.diffusion.num_timesteps
    timesteps = [min(T - 1, round(f * T)) for f in t_fractions]
    accuracy: list[list[float]] = []  # [block][t]
    shapes: list[tuple[int, int]] = []
    for t in timesteps:
        train_feats, shapes = pooled_activations(trained.model, train, labelled, t, trained.diffusion, device,
                                                 batch_size)
        test_feats, _ = pooled_activations(trained.model, test, torch.arange(len(test)), t, trained.diffusion,
                                           device, batch_size)
        scores = [fit_probe(a, train.labels[labelled].cpu(), b, test.labels.cpu())
                  for a, b in zip(train_feats, test_feats)]
        log.info("t = %d: %s", t, " ".join(f"{s:.3f}" for s in scores))
        accuracy = [row + [s] for row, s in zip(accuracy or [[] for _ in scores], scores)]
    names = [f"input block {k}" for k in range(len(shapes) - 1)] + ["middle block"]
    blocks = [{"name": n, "resolution": r, "channels": c} for n, (r, c) in zip(names, shapes)]
    return {K.KEY_EXPERIMENT: cfg.experiment_name or Path(model_path).parent.name, K.KEY_DATASET: cfg.dataset,
            K.KEY_MODEL: str(model_path), K.KEY_STEP: trained.step, K.KEY_WEIGHTS: weights,
            K.KEY_OBJECTIVE: "diffusion only" if trained.model.head is None else (
                "classifier only" if cfg.diffusion_loss_weight == 0 else "joint"),
            K.KEY_T_FRACTIONS: list(t_fractions), K.KEY_TIMESTEPS: timesteps, K.KEY_BLOCKS: blocks,
            K.KEY_PROBE_ACCURACY: accuracy, K.KEY_N_TRAIN: len(labelled), K.KEY_N_TEST: len(test),
            K.KEY_PROBE: PROBE}
