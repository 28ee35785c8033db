"""Generate samples from a trained model: unconditional, or guided toward classes by the model's own classifier.

    jointdiff sample --model results/cifar10/model.pt --seeds 0-49999 --out samples/uncond.npz
    jointdiff sample --model M --classes all --per-class 100 --alpha 1000 --out samples/guided.npz
    jointdiff sample --model celeba.pt --attribute 31 --per-class 50 --dataroot data --alpha 100 --out smiling.npz
    jointdiff sample --model diffusion_only.pt --classes all --per-class 100 --guidance classifier \
        --noised-classifier noised_classifier.pt --alpha 1 --clip-x0 --out classic.npz    (classic guidance)
    torchrun --standalone --nproc-per-node=4 -m jointdiff sample ...      (seed batches shared over processes)

Every sample has its own seed, so any seed range gives the same images on any number of processes. Finished
seed batches are kept in OUT.parts/ until the end, so a killed run picks up where it stopped. The output is
OUT (uint8 NHWC `images`, `labels` = target class or -1 — or the target attribute vectors, with `attribute` —,
`seeds`, settings) and a PNG grid beside it.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
from pathlib import Path

from jointdiff.choices import CLASSIC_GUIDANCE, DEVICES
from jointdiff.errors import UserError
from jointdiff.sample.settings import SamplingSettings, add_sampling_arguments

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


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Batch size and device: how the work runs, not what it makes (shared with `jointdiff counterfactual`)."""
    g = p.add_argument_group("performance")
    g.add_argument("--batch-size", type=int, default=256, metavar="N", help="images per forward pass")
    g.add_argument("--device", default="auto", choices=DEVICES)


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
    add_sampling_arguments(p)
    add_run_arguments(p)


def check_run_arguments(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise UserError("--batch-size must be >= 1")


def run(args: argparse.Namespace) -> int:
    # --- check everything cheap before loading anything --------------------------------------------------------
    settings = SamplingSettings.from_args(args)
    check_run_arguments(args)
    out = Path(args.out)
    if out.suffix != ".npz":
        raise UserError(f"--out must end in .npz, got {out}")
    if sum(x is not None for x in (args.seeds, args.classes, args.attribute)) != 1:
        raise UserError("give one of --seeds (unconditional), --classes or --attribute with --per-class (guided)")
    if args.seeds is None and args.per_class < 1:
        raise UserError("--classes and --attribute need --per-class N with N >= 1")
    if args.attribute is not None and not args.dataroot:
        raise UserError("--attribute takes its target vectors from the training split: give --dataroot")
    if args.seeds is not None and settings.guided:
        raise UserError("--alpha guides toward targets: use it with --classes or --attribute, not --seeds")

    import numpy as np

    from jointdiff import distributed as jd_dist
    from jointdiff.config import config_from_dict
    from jointdiff.model import load_trained, read_model_file
    from jointdiff.sample.generate import SampleRequest, generate, join_parts, save_samples
    from jointdiff.sample.targets import parse_classes

    cfg = config_from_dict(read_model_file(args.model)["config"])
    if args.seeds is not None:
        seeds = parse_seeds(args.seeds)
        labels = np.full(len(seeds), -1)
    else:
        if not cfg.train_with_classifier and settings.guidance != CLASSIC_GUIDANCE:
            raise UserError(f"{args.model} was trained without the classifier head: guide it with --guidance "
                            "classifier --noised-classifier FILE (classic guidance), or sample a joint model")
        if args.classes is not None:
            targets = parse_classes(args.classes, cfg.resolved_num_classes(), cfg.multi_label_classifier)
            labels = np.repeat(np.asarray(targets), args.per_class)
        else:
            labels = training_attribute_targets(cfg, args).numpy()
        seeds = list(range(len(labels)))
    if settings.noised_classifier:
        from jointdiff.sample.classic_guidance import cached_noised_classifier, check_noised_classifier
        check_noised_classifier(cached_noised_classifier(settings.noised_classifier, "cpu")[1], cfg,
                                settings.noised_classifier)

    # --- sample, sharded over processes, resumable by seed batch --------------------------------------------------
    info = jd_dist.init_distributed(args.device)
    trained = load_trained(args.model, settings.weights, info.device)
    request = SampleRequest(seeds=seeds, labels=labels.tolist(), batch_size=args.batch_size, settings=settings)
    parts_dir = out.with_suffix(".parts")
    generate(trained, request, parts_dir, info)
    jd_dist.barrier()

    # --- rank 0 joins the parts into the output --------------------------------------------------------------------
    if info.is_main:
        images = join_parts(parts_dir, len(seeds))
        save_samples(out, images, labels, seeds, settings.to_dict() | {"model": str(args.model), "step": trained.step},
                     attribute=args.attribute, per_class=0 if args.seeds is not None else args.per_class)
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
    from jointdiff.sample.targets import attribute_targets

    train = load_split(cfg.dataset, args.dataroot, "train", in_memory=False)
    return attribute_targets(train.labels, args.attribute, args.per_class)
