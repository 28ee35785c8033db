"""One training step, as jointdiff.train runs it, for each variant: forward (joint loss, through the same
`TrainStep` module the loop compiles) + backward + AdamW + EMA update, on one fixed batch.

Every variant starts from the same weights and sees the same batch, timesteps and noise. AdamW is fused, as in the
training loop (`build_optimizer`); `optimizer_calls` times the optimizer and EMA on their own.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from benchmarks.variants import Variant
from jointdiff.config import ExperimentConfig
from jointdiff.diffusion import build_diffusion
from jointdiff.model import JointDiffusionModel, build_model
from jointdiff.train import TrainStep, build_augmentation, build_optimizer, make_ema, update_ema


@dataclass
class Batch:
    """x0 [N, C, H, W] in [-1, 1], labels y [N], timesteps t [N], noise [N, C, H, W]."""

    x0: torch.Tensor
    y: torch.Tensor
    t: torch.Tensor
    noise: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        return Batch(*(v.to(device) for v in (self.x0, self.y, self.t, self.noise)))


def random_batch(cfg: ExperimentConfig, batch: int, seed: int = 0) -> Batch:
    """A seeded batch of the config's image shape (random images: the step's cost does not depend on content)."""
    gen = torch.Generator().manual_seed(seed)
    size, channels = cfg.resolved_image_size(), cfg.resolved_channels()
    shape = (batch, channels, size, size)
    return Batch(torch.rand(shape, generator=gen) * 2 - 1,
                 torch.randint(0, cfg.resolved_num_classes(), (batch,), generator=gen),
                 torch.randint(0, cfg.diffusion_steps, (batch,), generator=gen), torch.randn(shape, generator=gen))


def perturb_weights(model: torch.nn.Module, scale: float = 0.02, seed: int = 0) -> None:
    """Add seeded N(0, scale²) noise to every parameter. The UNet's output conv and each residual branch's last
    conv start at zero, so at initialisation ε_θ ≡ 0 and any two numerics agree trivially; equivalence checks
    perturb the weights first."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen).to(p.device, p.dtype) * scale)


def variant_model(base: JointDiffusionModel, variant: Variant, device: torch.device) -> JointDiffusionModel:
    """A copy of `base` for `variant`: on `device`, in its memory format, without the head for /nocls."""
    model = copy.deepcopy(base)
    if not variant.classifier:
        model.head = None
    model.to(device)
    if variant.channels_last:
        model.to(memory_format=torch.channels_last)
    return model


class VariantStep:
    """One variant's training state — a model copy (from `base`), its EMA and AdamW — and its step.

    `loss_and_grads()` runs the forward (the training loop's `TrainStep`, compiled for +compile) and backward
    without updating anything, for equivalence checks; `__call__` is the whole training step.
    """

    def __init__(self, base: JointDiffusionModel, cfg: ExperimentConfig, variant: Variant, device: torch.device,
                 batch: Batch, augment=None) -> None:
        self.cfg, self.variant, self.device, self.batch = cfg, variant, device, batch
        self.model = variant_model(base, variant, device).train()
        self.ema = make_ema(self.model)
        self.optimizer = build_optimizer(self.model.parameters(), cfg)
        step = TrainStep(self.model, build_diffusion(cfg).to(device), cfg,
                         augment if self.model.head is not None else None)
        self.run_step = torch.compile(step) if variant.compile else step
        self.x0 = variant.layout(batch.x0)

    def forward(self) -> dict[str, torch.Tensor]:
        with self.variant.autocast(self.device):
            return self.run_step(self.x0, self.batch.y, self.batch.t, self.batch.noise)

    def loss_and_grads(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(detached float32 loss terms, {parameter name: float32 gradient}); the gradients are then cleared."""
        self.optimizer.zero_grad(set_to_none=True)
        terms = self.forward()
        terms["loss"].backward()
        grads = {n: p.grad.detach().float().clone() for n, p in self.model.named_parameters() if p.grad is not None}
        self.optimizer.zero_grad(set_to_none=True)
        return {k: v.detach().float() for k, v in terms.items()}, grads

    def __call__(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.forward()["loss"].backward()
        self.optimizer.step()
        update_ema(self.ema, self.model, self.cfg.ema_rate)


def step_flops(step: VariantStep) -> float:
    """Floating-point operations of one training step, counted by torch's FlopCounterMode on an eager run
    (convolutions, matrix products, attention; elementwise work is not counted)."""
    from torch.utils.flop_counter import FlopCounterMode
    assert not step.variant.compile, "count FLOPs on an eager variant"
    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def training_steps(cfg: ExperimentConfig, variants: Sequence[Variant], device: torch.device, batch_size: int,
                   seed: int = 0, perturb: bool = False) -> dict[str, VariantStep]:
    """{variant name: its VariantStep}, all from the same initial weights (perturbed: see `perturb_weights`)
    and the same batch, augmentation from the config."""
    torch.manual_seed(seed)
    base = build_model(cfg).train()
    if perturb:
        perturb_weights(base, seed=seed)
    batch = random_batch(cfg, batch_size, seed).to(device)
    augment = build_augmentation(cfg)
    return {v.name: VariantStep(base, cfg, v, device, batch, augment) for v in variants}


def optimizer_calls(cfg: ExperimentConfig, device: torch.device) -> dict[str, Callable[[], None]]:
    """AdamW's step alone (foreach, the default, vs fused) and the EMA update alone, on the model's parameters
    with fixed random gradients."""
    torch.manual_seed(0)
    model = build_model(cfg).to(device)
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    ema = make_ema(model)
    calls = {}
    for name, fused in (("adamw-foreach", False), ("adamw-fused", True)):
        params = [torch.nn.Parameter(p.detach().clone()) for p in model.parameters()]
        for p, src in zip(params, model.parameters()):
            p.grad = src.grad.clone()
        calls[name] = build_optimizer(params, cfg, fused=fused).step
    calls["ema-update"] = lambda: update_ema(ema, model, cfg.ema_rate)
    return calls
