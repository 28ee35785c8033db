"""Counterfactual explanations: noise a real image to t*, then run the guided reverse process to a new target."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from jointdiff import keys as K
from jointdiff.diffusion import make_generators, randn_per_sample
from jointdiff.images import save_grid, save_npz, to_uint8
from jointdiff.model import TrainedModel, head_predict
from jointdiff.sample.generate import sample_batch
from jointdiff.sample.settings import SamplingSettings

NOISE_SEED_OFFSET = 10 ** 9  # the noise of image i comes from seed i + this, apart from any sampling seed


def test_image_indices(num_test: int, count: int, seed: int) -> torch.Tensor:
    """The test images to explain: the first `count` of a permutation drawn with `seed`."""
    return torch.randperm(num_test, generator=torch.Generator().manual_seed(seed))[:count]


def noising_timestep(t_fraction: float, num_timesteps: int) -> int:
    """t* = F · (T − 1), rounded, and at least 1: how far each image is noised before it is guided back."""
    return max(1, round(t_fraction * (num_timesteps - 1)))


def explain(trained: TrainedModel, x0: torch.Tensor, targets: torch.Tensor, t_star: int, settings: SamplingSettings,
            seeds: list[int], batch_size: int) -> dict[str, torch.Tensor]:
    """Counterfactuals of x0 ([N, C, H, W] in [-1, 1]) toward `targets`, with predictions before and after."""
    device = next(trained.model.parameters()).device
    multi_label = trained.cfg.multi_label_classifier
    outs, pred_orig, pred_cf = [], [], []
    for start in range(0, len(seeds), batch_size):
        sl = slice(start, start + batch_size)
        x = x0[sl].to(device)
        batch_seeds = seeds[sl]
        noise = randn_per_sample(make_generators([s + NOISE_SEED_OFFSET for s in batch_seeds]), x.shape, device)
        t = torch.full((x.shape[0],), t_star, dtype=torch.long, device=device)
        x_t = trained.diffusion.q_sample(x, t, noise)
        cf = sample_batch(trained, batch_seeds, targets[sl], settings, device, x_start=x_t, t_start=t_star)
        outs.append(cf.cpu())
        pred_orig.append(head_predict(trained.model, x, multi_label))
        pred_cf.append(head_predict(trained.model, cf, multi_label))
    return {"x": torch.cat(outs), "pred_original": torch.cat(pred_orig), "pred_counterfactual": torch.cat(pred_cf)}


def save_counterfactuals(out: Path, x0: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor,
                         test_indices: torch.Tensor, t_star: int, result: dict[str, torch.Tensor],
                         settings: dict) -> None:
    """The counterfactual archive (originals, counterfactuals, labels, targets, predictions, settings) and a PNG
    beside it with one row per image: original | counterfactual | |difference|."""
    originals, counterfactuals = to_uint8(x0).numpy(), to_uint8(result["x"]).numpy()
    save_npz(out, **{K.KEY_ORIGINALS: originals, K.KEY_COUNTERFACTUALS: counterfactuals,
                     K.KEY_SOURCE_LABELS: labels.numpy(), K.KEY_TARGET_LABELS: targets.numpy(),
                     K.KEY_PRED_ORIGINAL: result["pred_original"].numpy(),
                     K.KEY_PRED_COUNTERFACTUAL: result["pred_counterfactual"].numpy(),
                     K.KEY_TEST_INDICES: test_indices.numpy(), K.KEY_T_STAR: np.asarray(t_star),
                     K.KEY_ALPHA: np.asarray(settings["alpha"]),
                     K.KEY_SAMPLE_SETTINGS: np.asarray(json.dumps(settings))})
    difference = np.abs(counterfactuals.astype(np.int16) - originals.astype(np.int16)).astype(np.uint8)
    rows = np.stack([originals, counterfactuals, difference], axis=1).reshape(-1, *originals.shape[1:])
    save_grid(rows, out.with_suffix(".png"), nrow=3)
