"""Visual counterfactual explanations (the paper's last section): how would this test image look as class y'?

Each real test image x0 is noised to t* (a fraction of T), then denoised by the guided reverse process toward
another target (the next class, or one flipped attribute for multi-label data). The output holds the
originals, the counterfactuals, the classifier's prediction on each, and a figure of original | counterfactual
| difference.

    jointdiff counterfactual --model results/cifar10/model.pt --dataroot data --num-images 16 \\
        --t-fraction 0.5 --alpha 1000 --out results/cifar10/samples/counterfactual_ema.npz
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from jointdiff.commands.performance_options import add_performance_flags, check_performance_flags
from jointdiff.errors import UserError
from jointdiff.sample.settings import SamplingSettings, add_sampling_arguments

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to explain")
    g.add_argument("--model", required=True, metavar="FILE", help="model.pt from `jointdiff train`")
    g.add_argument("--dataroot", required=True, metavar="DIR", help="data root holding the model's dataset")
    g.add_argument("--out", required=True, metavar="FILE.npz", help="output archive (PNG figure beside it)")
    g.add_argument("--num-images", type=int, default=16, metavar="N", help="test images to explain")
    g.add_argument("--t-fraction", type=float, default=0.5, metavar="F", help="t* = F * (T - 1)")
    g.add_argument("--target", default="next", metavar="next|K",
                   help="single-label: 'next' (class y+1 mod K) or a fixed class K")
    g.add_argument("--attribute", type=int, default=31, metavar="K",
                   help="multi-label: the attribute to flip (CelebA 31 = Smiling)")
    g.add_argument("--seed", type=int, default=0, help="picks the test images and the noise")
    add_sampling_arguments(p, alpha=1000.0)
    add_performance_flags(p)


def run(args: argparse.Namespace) -> int:
    settings = SamplingSettings.from_args(args)
    check_performance_flags(args)
    if args.num_images < 1 or not 0 < args.t_fraction <= 1:
        raise UserError("--num-images must be >= 1 and --t-fraction in (0, 1]")
    out = Path(args.out)
    if out.suffix != ".npz":
        raise UserError(f"--out must end in .npz, got {out}")

    from jointdiff.data.loaders import load_split
    from jointdiff.distributed import resolve_device
    from jointdiff.model import load_trained
    from jointdiff.sample.counterfactual import explain, noising_timestep, save_counterfactuals, test_image_indices
    from jointdiff.sample.targets import counterfactual_targets

    device = resolve_device(args.device)
    trained = load_trained(args.model, settings.weights, device)
    cfg = trained.cfg
    settings.check_fits(cfg.diffusion_steps)
    if trained.model.head is None:
        raise UserError(f"{args.model} was trained without the classifier head; counterfactuals need it")
    test = load_split(cfg.dataset, args.dataroot, "test", image_size=cfg.resolved_image_size(),
                      channels=cfg.resolved_channels())
    indices = test_image_indices(len(test), args.num_images, args.seed)
    x0, labels = test.get_batch(indices)
    targets = counterfactual_targets(labels, args.target, args.attribute, cfg.resolved_num_classes(),
                                     cfg.multi_label_classifier)
    t_star = noising_timestep(args.t_fraction, trained.diffusion.num_timesteps)
    result = explain(trained, x0, targets, t_star, settings, seeds=indices.tolist(), batch_size=args.batch_size)

    recorded = settings.to_dict() | {"model": str(args.model), "t_star": t_star, "target": args.target,
                                     "attribute": args.attribute}
    save_counterfactuals(out, x0, labels, targets, indices, t_star, result, recorded)
    flipped = float((result["pred_counterfactual"] == targets).float().mean()) if targets.dim() == 1 else None
    log.info("wrote %s; %s of counterfactuals classified as their target", out,
             "n/a" if flipped is None else f"{flipped:.1%}")
    return 0
