"""Generate samples from a trained model: unconditional, or guided toward classes by the model's own classifier.

    jointdiff sample --model results/cifar10/model.pt --seeds 0-49999 --out samples/uncond.npz
    jointdiff sample --model M --classes all --per-class 100 --alpha 1000 --out samples/guided.npz
    jointdiff sample --model celeba.pt --attribute 31 --per-class 50 --dataroot data --alpha 100 --out smiling.npz
    torchrun --standalone --nproc-per-node=4 -m jointdiff sample ...      (seed batches shared over processes)

Every sample has its own seed, so any seed range gives the same images on any number of processes. Finished
seed batches are kept in OUT.parts/ until the end, so a killed run picks up where it stopped. The output is
OUT (uint8 NHWC `images`, `labels` = target class or -1 — or the target attribute vectors, with `attribute` —,
`seeds`, settings) and a PNG grid beside it.
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
    g.add_argument("--attribute", type=int, metavar="K",
                   help="guided, attribute models (CelebA): N samples with attribute K off, then N with it on; the "
                        "other attributes of each target are a real training image's (needs --dataroot)")
    g.add_argument("--dataroot", metavar="DIR", help="with --attribute: the data root holding the model's dataset")
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
    if sum(x is not None for x in (args.seeds, args.classes, args.attribute)) != 1:
        raise UserError("give one of --seeds (unconditional), --classes or --attribute with --per-class (guided)")
    if args.seeds is None and args.per_class < 1:
        raise UserError("--classes and --attribute need --per-class N with N >= 1")
    if args.attribute is not None and not args.dataroot:
        raise UserError("--attribute takes its target vectors from the training split: give --dataroot")
    if args.seeds is not None and args.alpha > 0:
        raise UserError("--alpha guides toward targets: use it with --classes or --attribute, not --seeds")

    import numpy as np

    from jointdiff import distributed as jd_dist
    from jointdiff.images import save_grid, save_npz
    from jointdiff.sampling import SampleRequest, generate
    from jointdiff.config import config_from_dict
    from jointdiff.trained import load_trained, read_model_file

    cfg = config_from_dict(read_model_file(args.model)["config"])
    if args.seeds is not None:
        seeds = parse_seeds(args.seeds)
        labels = np.full(len(seeds), -1)
    else:
        if not cfg.train_with_classifier:
            raise UserError(f"{args.model} was trained without the classifier head; guided sampling needs it")
        if args.classes is not None:
            targets = parse_classes(args.classes, cfg.resolved_num_classes(), cfg.multi_label_classifier)
            labels = np.repeat(np.asarray(targets), args.per_class)
        else:
            labels = training_attribute_targets(cfg, args).numpy()
        seeds = list(range(len(labels)))

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
        extra = {} if args.attribute is None else {"attribute": np.asarray(args.attribute)}
        save_npz(out, images=images, labels=labels, seeds=np.asarray(seeds), alpha=np.asarray(args.alpha),
                 settings=np.asarray(json.dumps(settings)), **extra)
        nrow = args.per_class if args.seeds is None and args.per_class <= 16 else 10
        shown = images[:nrow * 10] if args.seeds is not None else images
        save_grid(shown, out.with_suffix(".png"), nrow=min(nrow, 16))
        shutil.rmtree(parts_dir)
        log.info("wrote %d samples to %s", len(images), out)
    jd_dist.cleanup()
    return 0


def training_attribute_targets(cfg, args: argparse.Namespace):
    """[2N, A] target vectors for --attribute K: N real training vectors with K off, then the same N with K on."""
    if not cfg.multi_label_classifier:
        raise UserError(f"--attribute is for attribute (multi-label) models; {args.model} predicts classes: use "
                        "--classes")
    if not 0 <= args.attribute < cfg.resolved_num_classes():
        raise UserError(f"--attribute {args.attribute} out of range: the model has {cfg.resolved_num_classes()} "
                        "attributes")
    from jointdiff.data.loaders import load_split
    from jointdiff.sampling import attribute_targets

    train = load_split(cfg.dataset, args.dataroot, "train", in_memory=False)
    return attribute_targets(train.labels, args.attribute, args.per_class)


def parse_classes(text: str, num_classes: int, multi_label: bool) -> list[int]:
    """'all' or '0,3,7' → class indices, each checked against the model's number of classes."""
    if multi_label:
        raise UserError("this model is multi-label (attributes): guide it with --attribute K, or flip an attribute "
                        "with `jointdiff counterfactual`")
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
