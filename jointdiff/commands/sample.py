"""Generate samples from a trained model: unconditional, or guided toward classes by the model's own classifier.

    jointdiff sample --model results/cifar10/model.pt --seeds 0-49999 --out samples/uncond.npz
    jointdiff sample --model M --classes all --per-class 100 --alpha 1000 --out samples/guided.npz
    jointdiff sample --model celeba.pt --attribute 31 --per-class 50 --dataroot data --alpha 100 --out smiling.npz
    jointdiff sample --model diffusion_only.pt --classes all --per-class 100 --guidance classifier \
        --noised-classifier noised_classifier.pt --alpha 1 --clip-x0 --out classic.npz    (classic guidance)
    torchrun --standalone --nproc-per-node=4 -m jointdiff sample ...      (seed batches shared over processes)

Every sample has its own seed, so any seed range gives the same images on any number of processes. Finished
seed batches are kept in OUT.parts/ until the end, so a killed run picks up where it stopped; a batch is reused
only by a rerun with the same model file, settings, seeds and targets. One launch at a time writes OUT (it holds
OUT.lock). The output is OUT (uint8 NHWC `images`, `labels` = target class or -1 — or the target attribute
vectors, with `attribute` —, `seeds`, settings with the model file's sha256) and a PNG grid beside it. More
than MAX_SAMPLES samples need --allow-large.
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

# More samples than this in one output need --allow-large: twice the 50,000 of a paper FID, so that a slip such as
# --per-class 1000000 is refused instead of starting a job of days.
MAX_SAMPLES = 100_000


def check_sample_count(count: int, asked: str, allow_large: bool) -> None:
    """UserError when `asked` (the flags, as the user wrote them) means more than MAX_SAMPLES samples."""
    if count > MAX_SAMPLES and not allow_large:
        raise UserError(f"{asked} asks for {count:,} samples, more than {MAX_SAMPLES:,} (twice a paper FID's); "
                        "pass --allow-large if you mean it")


def parse_seeds(text: str, allow_large: bool = False) -> list[int]:
    """'0-999' or '0,5,7' or '0-9,20-29' → a list of seeds (counted before it is built)."""
    ranges = []
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise UserError(f"--seeds expects ranges like 0-999 or lists like 0,5,7, got {text!r}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise UserError(f"--seeds range {part.strip()!r} runs backwards")
        ranges.append(range(lo, hi + 1))
    check_sample_count(sum(len(r) for r in ranges), f"--seeds {text}", allow_large)
    return [seed for r in ranges for seed in r]


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
    g.add_argument("--allow-large", action="store_true", help=f"allow more than {MAX_SAMPLES:,} samples")
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
    from jointdiff.data.manifest import sha256
    from jointdiff.model import load_trained, read_model_file
    from jointdiff.sample.generate import SampleRequest, generate, join_parts, save_samples
    from jointdiff.sample.targets import parse_classes

    cfg = config_from_dict(read_model_file(args.model)["config"])
    settings.check_fits(cfg.diffusion_steps)
    if args.seeds is not None:
        seeds = parse_seeds(args.seeds, args.allow_large)
        labels = np.full(len(seeds), -1)
    else:
        if not cfg.train_with_classifier and settings.guidance != CLASSIC_GUIDANCE:
            raise UserError(f"{args.model} was trained without the classifier head: guide it with --guidance "
                            "classifier --noised-classifier FILE (classic guidance), or sample a joint model")
        if args.classes is not None:
            targets = parse_classes(args.classes, cfg.resolved_num_classes(), cfg.multi_label_classifier)
            check_sample_count(len(targets) * args.per_class, f"--classes {args.classes} --per-class "
                               f"{args.per_class}", args.allow_large)
            labels = np.repeat(np.asarray(targets), args.per_class)
        else:
            check_sample_count(2 * args.per_class, f"--attribute {args.attribute} --per-class {args.per_class}",
                               args.allow_large)
            labels = training_attribute_targets(cfg, args).numpy()
        seeds = list(range(len(labels)))
    if settings.noised_classifier:
        from jointdiff.sample.classic_guidance import cached_noised_classifier, check_noised_classifier
        check_noised_classifier(cached_noised_classifier(settings.noised_classifier, "cpu")[1], cfg,
                                settings.noised_classifier)

    # --- sample, sharded over processes, resumable by seed batch; one launch writes OUT at a time -----------------
    info = jd_dist.init_distributed(args.device)
    try:
        with jd_dist.main_rank_lock(out.with_suffix(".lock"), f"sample output {out}", info):
            trained = load_trained(args.model, settings.weights, info.device)
            request = SampleRequest(seeds=seeds, labels=labels.tolist(), batch_size=args.batch_size,
                                    settings=settings, model_sha256=sha256(Path(args.model)))
            parts_dir = out.with_suffix(".parts")
            generate(trained, request, parts_dir, info)
            jd_dist.barrier()

            # --- rank 0 joins the parts into the output ---------------------------------------------------------
            if info.is_main:
                images = join_parts(request, parts_dir)
                recorded = settings.to_dict() | {"model": str(args.model), "model_sha256": request.model_sha256,
                                                 "step": trained.step}
                save_samples(out, images, labels, seeds, recorded, attribute=args.attribute,
                             per_class=0 if args.seeds is not None else args.per_class)
                shutil.rmtree(parts_dir)
                log.info("wrote %d samples to %s", len(images), out)
    finally:
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
