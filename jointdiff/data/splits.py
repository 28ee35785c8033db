"""The four splits every dataset offers, and the seeded carve that makes `valid` where none is official.

`train` is the full official training split (what the paper trains on), `test` the official test split.
`valid` is official where the dataset has one (CelebA); elsewhere it is a fixed 10% of `train`, drawn with a
fixed seed, so every run, machine and torch version sees the same images. `train_minus_valid` is `train`
without them (for CelebA, whose official splits are disjoint, it is `train` itself).
"""

from __future__ import annotations

import torch

from jointdiff.errors import DatasetError

SPLITS = ("train", "test", "valid", "train_minus_valid")
VALID_SHARE = 0.1  # share of `train` carved out as `valid` where the dataset has no official one
VALID_SEED = 0     # fixed, not a run setting: the carve must not change between runs


def carve(num: int, share: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split range(num) into (picked, rest), both sorted int64; `picked` holds round(share * num) indices."""
    order = torch.randperm(num, generator=torch.Generator().manual_seed(seed))
    count = round(share * num)
    return order[:count].sort().values, order[count:].sort().values


def plan_split(name: str, official: tuple[str, ...], split: str) -> tuple[str, str | None]:
    """Which official split to read for `split`, and which part of it: None (all), 'picked' or 'rest'."""
    if split not in SPLITS:
        raise DatasetError(f"dataset {name} has no split {split!r}; valid splits: {', '.join(SPLITS)}")
    if split in official:
        return split, None
    if split == "train_minus_valid":
        return "train", None if "valid" in official else "rest"
    assert split == "valid"
    return "train", "picked"


def split_sizes(official_sizes: dict[str, int]) -> dict[str, int]:
    """Sizes of all four splits from the official ones (what the manifest records)."""
    sizes = dict(official_sizes)
    if "valid" not in sizes:
        sizes["valid"] = round(VALID_SHARE * sizes["train"])
        sizes["train_minus_valid"] = sizes["train"] - sizes["valid"]
    else:
        sizes["train_minus_valid"] = sizes["train"]
    return {split: sizes[split] for split in SPLITS}


def training_splits(eval_on_test_set: bool, validate_on_train: bool) -> tuple[str, str]:
    """(training split, validation split) of a run, from the authors' eval_on_test_set / validate_on_train switches."""
    if eval_on_test_set:
        return "train", "test"
    if validate_on_train:
        return "train", "train"
    return "train_minus_valid", "valid"
