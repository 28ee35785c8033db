"""Seeded, sharded, resumable sample generation (the work behind `jointdiff sample`).

Seeds are cut into batches in order; batch k goes to process k mod W, and each finished batch is written as
`<parts_dir>/batch-<index of its first seed>-<key>.npz`, so a rerun skips what exists; `join_parts` puts them
together in seed order. The key is a hash of everything that determines the batch's images (the model file's
content, the weights, sampler and guidance settings, its seeds and targets): a rerun with anything else changed
makes its batches anew and deletes the old ones, never mixing two runs under one run's labels. Guided batches
steer each sample toward its label (by the joint head, or by a noised classifier with classic guidance); label -1
means unconditional. `sample_to_file` is the whole run: the batches of this launch's processes, then rank 0 joins
them into the archive and deletes the parts; one launch at a time writes an archive (rank 0 holds OUT.lock).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from jointdiff.choices import CLASSIC_GUIDANCE
from jointdiff.config import ExperimentConfig
from jointdiff.data.manifest import sha256
from jointdiff.diffusion import CondFn, EpsFn, make_generators, sample_loop
from jointdiff.distributed import DistInfo, barrier, cleanup, init_distributed, main_rank_lock
from jointdiff.errors import UserError
from jointdiff.images import NPZ_READ_ERRORS, save_grid, save_npz, to_uint8
from jointdiff.keys import KEY_ALPHA, KEY_ATTRIBUTE, KEY_IMAGES, KEY_LABELS, KEY_SAMPLE_SETTINGS, KEY_SEEDS
from jointdiff.model import TrainedModel, load_trained
from jointdiff.progress import progress
from jointdiff.sample.classic_guidance import classifier_cond_fn
from jointdiff.sample.guidance import guided_eps_fn
from jointdiff.sample.settings import SamplingSettings
from jointdiff.sample.targets import SampleTargets

log = logging.getLogger(__name__)


@dataclass
class SampleRequest:
    seeds: list[int]
    labels: list                    # per seed: target class (-1 = unconditional) or attribute vector
    batch_size: int
    settings: SamplingSettings
    model_sha256: str               # the model file's content

    def batches(self) -> list[tuple[int, list[int]]]:
        """(index of its first seed, seeds) of every batch, in seed order."""
        return [(i, self.seeds[i:i + self.batch_size]) for i in range(0, len(self.seeds), self.batch_size)]

    def part_path(self, parts_dir: Path, start: int) -> Path:
        """The file of the batch whose first seed is seeds[start], named by a hash of what makes its images."""
        seeds = self.seeds[start:start + self.batch_size]
        identity = {"model_sha256": self.model_sha256, "settings": self.settings.to_dict(), "seeds": seeds,
                    "labels": self.labels[start:start + len(seeds)]}
        key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        return parts_dir / f"batch-{start:09d}-{key}.npz"


def check_guidable(cfg: ExperimentConfig, settings: SamplingSettings, model: str | Path) -> None:
    """UserError unless the model file has what `settings` guide it with: its own head, or classic guidance."""
    if not cfg.train_with_classifier and settings.guidance != CLASSIC_GUIDANCE:
        raise UserError(f"{model} was trained without the classifier head: guide it with --guidance classifier "
                        "--noised-classifier FILE (classic guidance), or sample a joint model")


def guidance_fns(trained: TrainedModel, labels: torch.Tensor, settings: SamplingSettings
                 ) -> tuple[EpsFn, CondFn | None]:
    """The model's eps function, guided toward `labels` by its own head when alpha > 0, and classic guidance's
    cond_fn (by a separate noised classifier; None for every other method)."""
    model = trained.model
    if not settings.guided:
        return (lambda x_t, t: model(x_t, t)), None
    if settings.guidance == CLASSIC_GUIDANCE:
        return (lambda x_t, t: model(x_t, t)), classifier_cond_fn(trained.cfg, labels, settings)
    return guided_eps_fn(model, trained.diffusion, labels, settings, trained.cfg.multi_label_classifier), None


def sample_batch(trained: TrainedModel, seeds: list[int], labels: torch.Tensor, settings: SamplingSettings, device,
                 x_start: torch.Tensor | None = None, t_start: int | None = None) -> torch.Tensor:
    """x_0 in [-1, 1] for one batch of seeds ([N, C, H, W])."""
    cfg = trained.cfg
    shape = (len(seeds), cfg.resolved_channels(), cfg.resolved_image_size(), cfg.resolved_image_size())
    eps_fn, cond_fn = guidance_fns(trained, labels.to(device), settings)
    return sample_loop(eps_fn, trained.diffusion, make_generators(seeds), shape, steps=settings.steps or None,
                       sampler=settings.sampler, variance=settings.variance, eta=settings.eta, clip_x0=settings.clip_x0,
                       x_start=x_start, t_start=t_start, device=device, cond_fn=cond_fn)


def _finished(path: Path, seeds: list[int]) -> bool:
    """Whether a batch file exists and reads back whole; a damaged one is reported, deleted and made again."""
    if not path.exists():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            if data[KEY_SEEDS].tolist() == seeds and len(data[KEY_IMAGES]) == len(seeds):
                return True
            problem = "it holds other seeds"
    except NPZ_READ_ERRORS as err:
        problem = f"{type(err).__name__}: {err}"
    log.warning("seed batch %s is damaged (%s); sampling it again", path, problem)
    path.unlink()
    return False


def generate(trained: TrainedModel, request: SampleRequest, parts_dir: Path, info: DistInfo) -> None:
    """Write this process's share of the seed batches into parts_dir (skipping finished ones, deleting those an
    earlier run made with another model, settings, seeds or targets)."""
    parts_dir.mkdir(parents=True, exist_ok=True)
    mine = request.batches()[info.rank::info.world_size]
    todo, stale = [], 0
    for start, seeds in mine:
        path = request.part_path(parts_dir, start)
        if _finished(path, seeds):
            continue
        for other in parts_dir.glob(f"batch-{start:09d}*.npz"):
            other.unlink()
            stale += 1
        todo.append((start, seeds, path))
    if stale:
        log.warning("rank %d: deleted %d finished seed batches of an earlier run with another model, settings, seeds "
                    "or targets", info.rank, stale)
    if len(todo) < len(mine):
        log.info("rank %d: %d of %d seed batches already done", info.rank, len(mine) - len(todo), len(mine))
    with progress(len(mine), desc="sampling", unit="batch", initial=len(mine) - len(todo),
                  enabled=info.is_main) as bar:
        for start, seeds, path in todo:
            labels = torch.tensor(request.labels[start:start + len(seeds)])
            x = sample_batch(trained, seeds, labels, request.settings, info.device)
            save_npz(path, **{KEY_IMAGES: to_uint8(x).numpy(), KEY_SEEDS: np.asarray(seeds)})
            bar.update(1)


def join_parts(request: SampleRequest, parts_dir: Path) -> np.ndarray:
    """The images of every batch of `request` in seed order (uint8 N x H x W x C)."""
    images = np.concatenate([np.load(request.part_path(parts_dir, start))[KEY_IMAGES]
                             for start, _ in request.batches()])
    assert len(images) == len(request.seeds), f"{len(images)} images for {len(request.seeds)} seeds"
    return images


def save_samples(out: Path, images: np.ndarray, targets: SampleTargets, settings: dict) -> None:
    """The sample archive (uint8 NHWC images, labels, seeds, alpha, the settings as JSON; for attribute guidance
    the attribute) and a PNG grid beside it: one row per class for guided samples, else the first 100."""
    extra = {} if targets.attribute is None else {KEY_ATTRIBUTE: np.asarray(targets.attribute)}
    save_npz(out, **{KEY_IMAGES: images, KEY_LABELS: targets.labels, KEY_SEEDS: np.asarray(targets.seeds),
                     KEY_ALPHA: np.asarray(settings["alpha"]), KEY_SAMPLE_SETTINGS: np.asarray(json.dumps(settings)),
                     **extra})
    per_class = targets.per_class
    nrow = per_class if per_class and per_class <= 16 else 10
    shown = images if per_class else images[:nrow * 10]
    save_grid(shown, out.with_suffix(".png"), nrow=min(nrow, 16))


def sample_to_file(model: str | Path, out: Path, targets: SampleTargets, settings: SamplingSettings, *,
                   batch_size: int, device: str) -> None:
    """Sample `targets` from the model file into the archive `out`, sharded over this launch's processes.

    Finished seed batches wait in OUT.parts/ (a killed run picks up where it stopped) until rank 0 has joined them
    into OUT; then they are deleted. Rank 0 holds OUT.lock for the whole launch.
    """
    info = init_distributed(device)
    try:
        with main_rank_lock(out.with_suffix(".lock"), f"sample output {out}", info):
            trained = load_trained(model, settings.weights, info.device)
            request = SampleRequest(seeds=targets.seeds, labels=targets.labels.tolist(), batch_size=batch_size,
                                    settings=settings, model_sha256=sha256(Path(model)))
            parts_dir = out.with_suffix(".parts")
            generate(trained, request, parts_dir, info)
            barrier()
            if info.is_main:
                images = join_parts(request, parts_dir)
                recorded = settings.to_dict() | {"model": str(model), "model_sha256": request.model_sha256,
                                                 "step": trained.step}
                save_samples(out, images, targets, recorded)
                shutil.rmtree(parts_dir)
                log.info("wrote %d samples to %s", len(images), out)
    finally:
        cleanup()
