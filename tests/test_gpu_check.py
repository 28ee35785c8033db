"""benchmarks/gpu_check.py's logic on a CPU: the GPU-hours of the paper experiments from measured rates, the count
of host syncs, and a clear refusal where there is no GPU."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch

from benchmarks.gpu_check import count_syncs, experiment_config, gpu_hours, paper_experiments, sampler_steps
from conftest import REPO, subprocess_env


def test_gpu_hours_add_training_sampling_and_fid_of_each_paper_experiment():
    names, sampling = paper_experiments()
    assert names == ["svhn", "cifar10", "cifar100", "fashionmnist"]
    cifar10, fashion = experiment_config("cifar10"), experiment_config("fashionmnist")
    assert sampler_steps(cifar10, sampling) == 1000 and sampler_steps(fashion, sampling) == 500  # every timestep
    assert sampler_steps(cifar10, sampling | {"steps": 50}) == 50
    rates = {"train_img_per_s": 1000.0, "sample_img_steps_per_s": 20_000.0, "fid_img_per_s": 500.0}
    hours = gpu_hours(cifar10, 1000, rates)
    assert hours["train"] == pytest.approx(cifar10.num_steps * 256 / 1000 / 3600)
    assert hours["sample"] == pytest.approx(50_000 * 1000 / 20_000 / 3600)
    assert hours["fid"] == pytest.approx(50_000 / 500 / 3600)
    assert hours["total"] == pytest.approx(hours["train"] + hours["sample"] + hours["fid"])
    assert gpu_hours(fashion, 500, rates)["train"] == pytest.approx(fashion.num_steps * 128 / 1000 / 3600)


def test_syncs_are_counted_from_the_sync_debug_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("called a synchronizing CUDA operation", UserWarning)
        warnings.warn("something else", UserWarning)
        warnings.warn("called a synchronizing CUDA operation", UserWarning)
    assert count_syncs(caught) == 2


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_without_cuda_it_refuses_at_once_saying_why():
    proc = subprocess.run([sys.executable, "benchmarks/gpu_check.py"], cwd=REPO, env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "torch.cuda.is_available() is False" in proc.stderr, proc.stderr[-2000:]
