"""What the loop records: loss terms summed on the device between log lines (no per-step host sync), the first
non-finite step, and train_log.jsonl, one JSON record per logged step (once each, also across resumes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from jointdiff import distributed as jd_dist
from jointdiff.atomic import atomic_write_text
from jointdiff.errors import UserError


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


class LossTotals:
    """Sums of (loss, diffusion, classifier) weighted per micro-batch, and of (correct, labelled) rows."""

    def __init__(self, device: torch.device) -> None:
        self.sums = torch.zeros(5, device=device)
        self.first_bad_step = torch.full((), -1, dtype=torch.long, device=device)

    def add(self, terms: dict[str, torch.Tensor], weight: float, step: int) -> None:
        """One micro-batch's terms (from joint_loss) with its share `weight` of the rank's batch."""
        labelled = terms["labelled"].detach().float()
        self.sums += torch.stack([weight * terms["loss"].detach().float(),
                                  weight * terms["diffusion"].detach().float(),
                                  weight * terms["classifier"].detach().float(),
                                  terms["accuracy"].detach().float() * labelled, labelled])
        bad = ~torch.isfinite(terms["loss"].detach())
        self.first_bad_step = torch.where(bad & (self.first_bad_step < 0),
                                          torch.full_like(self.first_bad_step, step), self.first_bad_step)

    def check_finite(self, last_checkpoint: Path | None) -> None:
        """Raise TrainingDiverged (on every rank) if any rank saw a non-finite loss."""
        bad = int(jd_dist.all_reduce_sum(self.first_bad_step.clamp(min=-1) + 1).item())
        if bad:
            raise TrainingDiverged(f"the loss became NaN/inf at step {int(self.first_bad_step.item())} (or on another "
                                   f"rank); last good checkpoint: {last_checkpoint or 'none'}")

    def read(self, steps: int, world_size: int) -> dict[str, float]:
        """Average loss terms over the `steps` steps summed since the last read (every rank's), and the batch
        accuracy; then start again at 0."""
        totals = jd_dist.all_reduce_sum(self.sums).tolist()
        self.sums.zero_()
        loss, diffusion, classifier = (v / (steps * world_size) for v in totals[:3])
        return {"loss": loss, "loss_diffusion": diffusion, "loss_classifier": classifier,
                "train_batch_acc": totals[3] / max(totals[4], 1.0)}


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Add one line to train_log.jsonl."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def keep_records_up_to(path: Path, step: int) -> None:
    """Drop the lines of train_log.jsonl past `step`, and any line cut short by a kill.

    A run resumed from the checkpoint of `step` logs the later steps again; without this they would appear twice.
    """
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("step", 0) <= step:
            kept.append(line + "\n")
    atomic_write_text(path, "".join(kept))
