"""What keeps the training and sampler steps free of host synchronisation, checked on the CPU: the schedule lives
where the model runs, and the step draws its timesteps and noise with a generator of the model's device."""

from __future__ import annotations

import torch

from conftest import TINY_FLAGS
from jointdiff.config import load_config
from jointdiff.diffusion import GaussianDiffusion, make_beta_schedule
from jointdiff.gpu.transfer import host_to_device


def test_a_diffusion_moves_every_schedule_tensor_and_stays_put_where_it_is():
    diffusion = GaussianDiffusion(make_beta_schedule("linear", 50)).respaced(range(0, 50, 5))
    moved = diffusion.to("meta")
    tensors = {name: value for name, value in vars(moved).items() if isinstance(value, torch.Tensor)}
    tensors |= {f"{name}.{k}": v for name, value in vars(moved).items() if isinstance(value, dict)
                for k, v in value.items()}
    assert "timestep_map" in tensors and "model_variance.fixedlarge" in tensors
    assert all(v.device.type == "meta" for v in tensors.values()), {k: v.device for k, v in tensors.items()}
    assert diffusion.device.type == "cpu" and diffusion.to("cpu") is diffusion


def test_the_step_runner_keeps_the_schedule_and_its_generator_on_the_models_device(digits_root):
    from jointdiff.distributed import DistInfo
    from jointdiff.diffusion import build_diffusion
    from jointdiff.train.data import load_training_data
    from jointdiff.train.state import build_state
    from jointdiff.train.step import StepRunner, step_seed

    cfg = load_config(flags=TINY_FLAGS + ["--dataroot", str(digits_root)])
    device = torch.device("cpu")
    state = build_state(cfg, device, 1)
    runner = StepRunner(state, build_diffusion(cfg), cfg, DistInfo(0, 0, 1, device), load_training_data(cfg, device))
    assert runner.diffusion.device == device and runner.generator.device == device
    t, noise = runner.draws(3)
    assert t.device == noise.device == device and noise.shape == (8, 1, 16, 16)
    replay = torch.Generator(device).manual_seed(step_seed(cfg.seed, 3, 10 ** 6))
    assert torch.equal(t, torch.randint(0, 100, (8,), generator=replay, device=device))
    assert torch.equal(noise, torch.randn(8, 1, 16, 16, generator=replay, device=device))


def test_host_to_device_leaves_cpu_copies_ordinary():
    values = torch.arange(5)
    assert torch.equal(host_to_device(values, "cpu"), values)
    assert host_to_device(values, "meta").device.type == "meta"
