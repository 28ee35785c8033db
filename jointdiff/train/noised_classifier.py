"""Training the noised classifier of classic guidance, as the authors' `classifier_train.py` does: on the labelled
training images, each noised to x_t = q(x_t | x_0) at a uniform t of the diffusion model's schedule, with
cross-entropy (BCE for attributes) and a constant-rate AdamW; no augmentation, no EMA.

Resumable like the joint training: checkpoints every `save_interval` steps in the run directory, and every random
draw (batch, t, noise) is a function of (seed, step), so a rerun continues exactly where the last checkpoint was.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from jointdiff.data.datasets import InMemoryDataset
from jointdiff.diffusion import GaussianDiffusion
from jointdiff.gpu.precision import numerics, set_precision
from jointdiff.metrics.accuracy import accuracy_from_logits
from jointdiff.noised_classifier.network import NoisedClassifier, save_noised_classifier
from jointdiff.noised_classifier.settings import NoisedClassifierSettings
from jointdiff.train.batches import GlobalBatchStream
from jointdiff.train.checkpoint import load_latest_checkpoint, save_checkpoint
from jointdiff.train.joint_loss import batch_accuracy, classification_loss, classifier_targets
from jointdiff.train.step import step_seed

log = logging.getLogger(__name__)

LOG_LINES = 20              # progress lines over a run
TEST_T_FRACTIONS = (0.0, 0.1, 0.25, 0.5)  # test accuracy at these t / T, stored in the classifier's file
EVAL_BATCH = 500


@torch.no_grad()
def noised_accuracy(model: NoisedClassifier, test_set: InMemoryDataset, diffusion: GaussianDiffusion,
                    t: int, multi_label: bool, device: torch.device) -> float:
    """Accuracy on the test images noised to timestep t (seeded noise; t = 0 reads the clean images)."""
    gen = torch.Generator().manual_seed(0)
    logits = []
    for start in range(0, len(test_set), EVAL_BATCH):
        x, _ = test_set.get_batch(torch.arange(start, min(start + EVAL_BATCH, len(test_set))))
        x, tt = x.to(device), torch.full((len(x),), t, dtype=torch.long, device=device)
        if t > 0:
            x = diffusion.q_sample(x, tt, torch.randn(x.shape, generator=gen).to(device))
        logits.append(model(x, tt).float().cpu())
    return accuracy_from_logits(torch.cat(logits), test_set.labels.cpu(), multi_label)["accuracy"]


def fit_noised_classifier(settings: NoisedClassifierSettings, info: dict[str, Any], train_set: InMemoryDataset,
                            test_set: InMemoryDataset, diffusion: GaussianDiffusion, *, run_dir: Path, out: Path,
                            device: torch.device) -> dict[str, Any]:
    """Train (or resume) and write `out`; returns the file's info with the step and the test accuracies.

    :param info: what the classifier reads (dataset, image_size, channels, num_classes, multi_label) and the
        diffusion it is trained on (diffusion_steps, noise_schedule); stored in the file.
    :param train_set: the labelled training images only.
    """
    multi_label = bool(info["multi_label"])
    torch.manual_seed(settings.seed)
    model = NoisedClassifier(info["image_size"], info["channels"], info["num_classes"], settings).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    step = 0
    ckpt_dir = run_dir / "checkpoints"
    found = load_latest_checkpoint(ckpt_dir)
    if found is not None:
        saved, path = found
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        step = saved["step"]
        log.info("resumed from %s at step %d", path, step)
    stream = GlobalBatchStream(len(train_set), settings.batch_size, settings.seed)
    every = max(1, settings.iterations // LOG_LINES)
    # The images, the schedule and the step's draws live on the device: no copy from the host per step.
    set_precision(True, benchmark=True)  # TF32 as the authors' torch 1.11 ran their classifier_train.py
    train_set, diffusion = train_set.to(device), diffusion.to(device)
    model.train()
    while step < settings.iterations:
        gen = torch.Generator(device).manual_seed(step_seed(settings.seed, step, 10 ** 6))
        x0, y = train_set.get_batch(stream.global_indices(step))
        t = diffusion.sample_timesteps(len(x0), device, generator=gen)
        x_t = diffusion.q_sample(x0, t, torch.randn(x0.shape, generator=gen, device=device))
        targets, _ = classifier_targets(y, info["num_classes"], multi_label)
        logits = model(x_t, t)
        loss = classification_loss(logits, targets, multi_label)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        if step % every == 0 or step == settings.iterations:
            log.info("step %d: loss %.4f, batch accuracy %.3f", step, loss.item(),
                     batch_accuracy(logits, targets, multi_label).item())
        if step % settings.save_interval == 0 or step == settings.iterations:  # the last one: more steps resume
            state = {"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict()}
            save_checkpoint(state, ckpt_dir, step, keep=2)
    model.eval()
    T = diffusion.num_timesteps
    accuracy = {f"{f:g}": noised_accuracy(model, test_set, diffusion, min(T - 1, round(f * T)), multi_label, device)
                for f in TEST_T_FRACTIONS}
    log.info("test accuracy by t / T: %s", ", ".join(f"{k}: {v:.4f}" for k, v in accuracy.items()))
    info = {**info, "settings": settings.to_dict(), "step": step, "test_accuracy_by_t_fraction": accuracy,
            "numerics": numerics(device)}
    save_noised_classifier(model, info, out)
    return info
