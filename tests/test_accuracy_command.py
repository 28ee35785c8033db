"""`jointdiff accuracy`: every test image, raw and EMA, clean and noised, with the head's timestep feature recorded."""

from __future__ import annotations

import json

import torch

from jointdiff.cli import main
from jointdiff.data.loaders import load_split
from jointdiff.model import load_trained

torch.set_num_threads(1)


def noised_accuracy(trained, data, t: int, head_t: str) -> float:
    """The same measurement done by hand: the accuracy command's seeded noise, the encoder at t, the head at head_t."""
    x, y = data.get_batch(torch.arange(len(data)))
    tt = torch.full((len(x),), t)
    x_t = trained.diffusion.q_sample(x, tt, torch.randn(x.shape, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        logits = trained.model.classify(x_t, tt, torch.zeros_like(tt) if head_t == "zero" else tt)
    return float((logits.argmax(1) == y).float().mean())


def test_noise_curve_reads_the_head_at_zero_or_t(trained_model, digits_root, tmp_path):
    trained = load_trained(trained_model, "ema")
    data = load_split("digits", digits_root, "test")
    t = round(0.3 * trained.diffusion.num_timesteps)
    for head_t in ("zero", "t"):
        out = tmp_path / f"accuracy_{head_t}.json"
        assert main(["accuracy", "--model", str(trained_model), "--dataroot", str(digits_root), "--out", str(out),
                     "--noise-fractions", "0,0.3", "--weights", "ema", "--head-t", head_t, "--device", "cpu"]) == 0
        result = json.loads(out.read_text())
        assert result["head_t"] == head_t and result["weights"]["ema"]["n"] == len(data)
        assert result["numerics"] == {"device": "cpu", "tf32": False}  # CPUs have no TF32
        clean, noised = result["noise_curve"]["ema"]
        assert (clean["t"], noised["t"]) == (0, t)
        assert clean["accuracy"] == result["weights"]["ema"]["accuracy"] > 0.5
        assert noised["accuracy"] == noised_accuracy(trained, data, t, head_t)
