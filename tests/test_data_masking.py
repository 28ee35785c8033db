"""Seeded label masks: exact share, reproducible, -1 for hidden class labels and attribute rows."""

from __future__ import annotations

import pytest
import torch

from jointdiff.data.masking import label_mask, mask_labels
from jointdiff.errors import ConfigError


@pytest.mark.parametrize("num, share", [(1000, 0.1), (73_257, 0.01), (7, 0.5), (10, 1.0), (10, 0.0)])
def test_mask_keeps_exactly_the_rounded_share(num, share):
    mask = label_mask(num, share, seed=0)
    assert mask.dtype == torch.bool and mask.shape == (num,)
    assert int(mask.sum()) == round(share * num)


def test_same_seed_same_mask_other_seed_other_mask():
    assert torch.equal(label_mask(500, 0.2, seed=7), label_mask(500, 0.2, seed=7))
    assert not torch.equal(label_mask(500, 0.2, seed=7), label_mask(500, 0.2, seed=8))


def test_mask_does_not_depend_on_the_global_rng():
    torch.manual_seed(1)
    first = label_mask(100, 0.3, seed=5)
    torch.manual_seed(2)
    assert torch.equal(first, label_mask(100, 0.3, seed=5))


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_share_outside_unit_interval_fails(share):
    with pytest.raises(ConfigError, match="labelled share"):
        label_mask(10, share, seed=0)


def test_hidden_labels_become_minus_one():
    classes = torch.arange(6)
    mask = torch.tensor([True, False, True, False, True, False])
    assert mask_labels(classes, mask).tolist() == [0, -1, 2, -1, 4, -1]
    assert classes.tolist() == list(range(6))  # the input is not modified

    attributes = torch.ones(3, 4)
    masked = mask_labels(attributes, torch.tensor([False, True, True]))
    assert masked[0].tolist() == [-1.0] * 4 and masked[1:].eq(1).all()
