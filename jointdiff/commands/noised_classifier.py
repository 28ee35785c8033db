"""Train the noised classifier of classic classifier guidance (the authors' classifier_train.py; Dhariwal & Nichol).

    jointdiff noised-classifier --dataset CIFAR10 --dataroot data --diffusion-steps 1000 --noise-schedule linear \\
        --run-dir results/cifar10_diffusion_only/noised_classifier --out results/.../noised_classifier.pt

It classifies noised images x_t at timestep t of the diffusion model it will guide, so --diffusion-steps and
--noise-schedule must be that model's (`jointdiff sample` checks). The defaults of the architecture and training
flags are the authors'. Only labelled training images are used. Rerunning the same command resumes from the newest
checkpoint in --run-dir. The file also holds the test accuracy at t / T = 0, 0.1, 0.25, 0.5.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from jointdiff.choices import DEVICES, NOISE_SCHEDULES
from jointdiff.errors import UserError
from jointdiff.noised_classifier.settings import NoisedClassifierSettings, add_settings_arguments

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data and diffusion")
    g.add_argument("--dataset", required=True, help="prepared dataset (its labelled training images)")
    g.add_argument("--dataroot", required=True, metavar="DIR")
    g.add_argument("--image-size", type=int, default=0, metavar="PX", help="0 = the dataset's own")
    g.add_argument("--channels", type=int, default=0, choices=(0, 1, 3), help="0 = the dataset's own")
    g.add_argument("--diffusion-steps", type=int, required=True, metavar="T", help="T of the model to guide")
    g.add_argument("--noise-schedule", required=True, choices=NOISE_SCHEDULES, help="its beta schedule")
    add_settings_arguments(p)
    g = p.add_argument_group("run")
    g.add_argument("--run-dir", required=True, metavar="DIR", help="checkpoints (a rerun resumes)")
    g.add_argument("--out", required=True, metavar="FILE.pt")
    g.add_argument("--device", default="auto", choices=DEVICES)


def run(args: argparse.Namespace) -> int:
    from jointdiff.data.specs import get_spec
    spec = get_spec(args.dataset)
    settings = NoisedClassifierSettings.from_args(args)
    if args.diffusion_steps < 2 or args.image_size < 0:
        raise UserError("--diffusion-steps must be >= 2 and --image-size >= 0")

    from jointdiff.diffusion import build_diffusion
    from jointdiff.distributed import resolve_device
    from jointdiff.noised_classifier.data import classifier_splits
    from jointdiff.train import fit_noised_classifier

    size, channels = args.image_size or spec.image_size, args.channels or spec.channels
    train, test = classifier_splits(spec.name, args.dataroot, size, channels)
    diffusion = build_diffusion(args)  # --noise-schedule and --diffusion-steps, as a model's config gives them
    info = {"dataset": spec.name, "image_size": size, "channels": channels, "num_classes": spec.num_classes,
            "multi_label": spec.multi_label, "diffusion_steps": args.diffusion_steps,
            "noise_schedule": args.noise_schedule, "train_images": len(train)}
    info = fit_noised_classifier(settings, info, train, test, diffusion, run_dir=Path(args.run_dir),
                                   out=Path(args.out), device=resolve_device(args.device))
    log.info("wrote %s (clean test accuracy %.4f)", args.out, info["test_accuracy_by_t_fraction"]["0"])
    return 0
