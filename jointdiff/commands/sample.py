"""Generate samples from a trained model: unconditional, or guided toward classes by the model's own classifier.

    jointdiff sample --model results/cifar10/model.pt --seeds 0-49999 --out samples/uncond.npz
    jointdiff sample --model M --classes all --per-class 100 --alpha 1000 --out samples/guided.npz
    torchrun --standalone --nproc-per-node=4 -m jointdiff sample ...      (seed batches shared over processes)

Every sample has its own seed, so any seed range gives the same images on any number of processes. Finished
seed batches are kept in OUT.parts/ until the end, so a killed run picks up where it stopped. The output is
OUT (uint8 NHWC `images`, `labels` = target class or -1, `seeds`, settings) and a PNG grid beside it.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
from pathlib import Path

from jointdiff.errors import UserError

GUIDANCE_METHODS = ("representation", "x0", "input")  # = jointdiff.guidance.METHODS, spelt out to keep torch unloaded

log = logging.getLogger(__name__)


def parse_seeds(text: str) -> list[int]:
    """'0-999' or '0,5,7' or '0-9,20-29' → a list of seeds."""
    seeds: list[int] = []
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise UserError(f"--seeds expects ranges like 0-999 or lists like 0,5,7, got {text!r}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise UserError(f"--seeds range {part.strip()!r} runs backwards")
        seeds.extend(range(lo, hi + 1))
    return seeds


def add_sampler_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared with `jointdiff counterfactual`."""
    g = p.add_argument_group("sampler")
    g.add_argument("--weights", default="ema", choices=("ema", "raw"), help="which weights to sample from")
    g.add_argument("--sampler", default="ancestral", choices=("ancestral", "ddim"),
                   help="ancestral (the paper's, fixed-large variance) or ddim")
    g.add_argument("--steps", type=int, default=0, metavar="N", help="sampler steps; 0 = all T (the paper's)")
    g.add_argument("--eta", type=float, default=0.0, help="DDIM eta")
    g.add_argument("--clip-x0", action="store_true", help="clip the predicted x0 to [-1, 1] at every step")
    g.add_argument("--batch-size", type=int, default=256, metavar="N", help="images per forward pass")
    g.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    g = p.add_argument_group("guidance by the joint classifier (jointdiff/guidance.py)")
    g.add_argument("--alpha", type=float, default=0.0, metavar="A",
                   help="step size alpha (the authors' sampling_lr; the guidance scale for x0/input); 0 = unguided")
    g.add_argument("--guidance", default="representation", choices=GUIDANCE_METHODS,
                   help="representation: the paper's shift of the encoder activations; x0: the head on the "
                        "denoiser's clean estimate, gradient to x_t (steers on digits, issue 5); input: the head "
                        "on x_t itself")
    g.add_argument("--head-t", default="zero", choices=("zero", "t"),
                   help="timestep fed to the head during guidance (zero: as it was trained)")
    g.add_argument("--guide-until", type=float, default=1.0, metavar="F",
                   help="guide only while t < F*T (1 = every step)")
    g.add_argument("--normalize-grad", action="store_true", help="unit-RMS gradients per sample")


def check_sampler_arguments(args: argparse.Namespace) -> None:
    if args.steps < 0 or args.batch_size < 1:
        raise UserError("--steps must be >= 0 and --batch-size >= 1")
    if args.alpha < 0 or not 0 < args.guide_until <= 1 or args.eta < 0:
        raise UserError("--alpha and --eta must be >= 0 and --guide-until in (0, 1]")


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to sample")
    g.add_argument("--model", required=True, metavar="FILE", help="model.pt from `jointdiff train`")
    g.add_argument("--out", required=True, metavar="FILE.npz", help="output archive (PNG grid beside it)")
    g.add_argument("--seeds", metavar="RANGES", help="unconditional: seeds such as 0-49999")
    g.add_argument("--classes", metavar="LIST", help="guided: 'all' or a comma list of target classes")
    g.add_argument("--per-class", type=int, default=0, metavar="N", help="guided: samples per target class")
    add_sampler_arguments(p)


def sampler_settings(args: argparse.Namespace) -> dict:
    """The sampler options as saved beside every output."""
    return {"weights": args.weights, "sampler": args.sampler, "steps": args.steps, "eta": args.eta,
            "clip_x0": args.clip_x0, "alpha": args.alpha, "guidance": args.guidance, "head_t": args.head_t,
            "guide_until": args.guide_until, "normalize_grad": args.normalize_grad}


def run(args: argparse.Namespace) -> int:
    # --- check everything cheap before loading anything --------------------------------------------------------
    check_sampler_arguments(args)
    out = Path(args.out)
    if out.suffix != ".npz":
        raise UserError(f"--out must end in .npz, got {out}")
    if (args.seeds is None) == (args.classes is None):
        raise UserError("give either --seeds (unconditional) or --classes with --per-class (guided)")
    if args.classes is not None and args.per_class < 1:
        raise UserError("--classes needs --per-class N with N >= 1")
    if args.seeds is not None and args.alpha > 0:
        raise UserError("--alpha guides toward target classes: use it with --classes, not --seeds")

    import numpy as np

    from jointdiff import distributed as jd_dist
    from jointdiff.images import save_grid, save_npz
    from jointdiff.sampling import SampleRequest, generate
    from jointdiff.config import config_from_dict
    from jointdiff.trained import load_trained, read_model_file

    cfg = config_from_dict(read_model_file(args.model)["config"])
    if args.classes is not None:
        if not cfg.train_with_classifier:
            raise UserError(f"{args.model} was trained without the classifier head; guided sampling needs it")
        targets = parse_classes(args.classes, cfg.resolved_num_classes(), cfg.multi_label_classifier)
        labels = np.repeat(np.asarray(targets), args.per_class)
        seeds = list(range(len(labels)))
    else:
        seeds = parse_seeds(args.seeds)
        labels = np.full(len(seeds), -1)

    # --- sample, sharded over processes, resumable by seed batch ------------------------------------------------------
    info = jd_dist.init_distributed(args.device)
    trained = load_trained(args.model, args.weights, info.device)
    request = SampleRequest(seeds=seeds, labels=labels.tolist(), batch_size=args.batch_size,
                            settings=sampler_settings(args))
    parts_dir = out.with_suffix(".parts")
    generate(trained, request, parts_dir, info)
    jd_dist.barrier()

    # --- rank 0 joins the parts into the output ------------------------------------------------------------------------
    if info.is_main:
        parts = sorted(parts_dir.glob("batch-*.npz"), key=lambda p: int(p.stem.split("-")[1]))
        images = np.concatenate([np.load(p)["images"] for p in parts])
        assert len(images) == len(seeds), f"{len(images)} images for {len(seeds)} seeds"
        settings = request.settings | {"model": str(args.model), "step": trained.step}
        save_npz(out, images=images, labels=labels, seeds=np.asarray(seeds),
                 alpha=np.asarray(args.alpha), settings=np.asarray(json.dumps(settings)))
        nrow = args.per_class if args.classes is not None and args.per_class <= 16 else 10
        shown = images[:nrow * 10] if args.classes is None else images
        save_grid(shown, out.with_suffix(".png"), nrow=min(nrow, 16))
        shutil.rmtree(parts_dir)
        log.info("wrote %d samples to %s", len(images), out)
    jd_dist.cleanup()
    return 0


def parse_classes(text: str, num_classes: int, multi_label: bool) -> list[int]:
    """'all' or '0,3,7' → class indices, each checked against the model's number of classes."""
    if multi_label:
        raise UserError("this model is multi-label (attributes): use `jointdiff counterfactual` to flip an "
                        "attribute; class-guided sampling needs a single-label model")
    if text.strip().lower() == "all":
        return list(range(num_classes))
    try:
        classes = [int(c) for c in text.split(",")]
    except ValueError:
        raise UserError(f"--classes expects 'all' or a comma list of integers, got {text!r}")
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise UserError(f"--classes {bad} out of range: the model has {num_classes} classes (0..{num_classes - 1})")
    return classes
