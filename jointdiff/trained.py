"""Loading a trained model file (`model.pt`: raw and EMA weights + the config that made them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from jointdiff.config import ExperimentConfig, config_from_dict
from jointdiff.errors import CheckpointError, UserError

WEIGHTS = ("ema", "raw")


@dataclass
class TrainedModel:
    model: Any                 # JointDiffusionModel in eval mode
    cfg: ExperimentConfig
    diffusion: Any             # GaussianDiffusion
    weights: str               # "ema" or "raw"
    step: int
    path: Path


def read_model_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file {path} does not exist (train it first: `jointdiff train ... --out {path}`)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise CheckpointError(f"model file {path} cannot be read ({type(err).__name__}: {err})")
    missing = [k for k in ("model", "ema", "config") if k not in state]
    if missing:
        raise CheckpointError(f"model file {path} lacks {', '.join(missing)}; is it a jointdiff model.pt?")
    return state


def load_trained(path: str | Path, weights: str = "ema", device: str | torch.device = "cpu") -> TrainedModel:
    """The model of `path` with its raw or EMA weights, in eval mode, on `device`."""
    from jointdiff.diffusion import build_diffusion
    from jointdiff.model import build_model

    if weights not in WEIGHTS:
        raise UserError(f"--weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
    state = read_model_file(path)
    cfg = config_from_dict(state["config"])
    model = build_model(cfg)
    model.load_state_dict(state["ema" if weights == "ema" else "model"])  # model.pt keeps raw weights as "model"
    model.to(device).eval().requires_grad_(False)
    return TrainedModel(model, cfg, build_diffusion(cfg), weights, int(state.get("step", 0)), Path(path))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but torch sees no CUDA GPU")
    if name not in ("cpu", "cuda"):
        raise UserError(f"--device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)
