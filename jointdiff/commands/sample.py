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
from pathlib import Path

from jointdiff.commands.performance_options import add_performance_flags, check_performance_flags
from jointdiff.errors import UserError
from jointdiff.sample.seeds import MAX_SAMPLES, parse_seeds
from jointdiff.sample.settings import SamplingSettings, add_sampling_arguments


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
    add_performance_flags(p)


def run(args: argparse.Namespace) -> int:
    # --- check everything cheap before loading anything --------------------------------------------------------
    settings = SamplingSettings.from_args(args)
    check_performance_flags(args)
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

    from jointdiff.config import config_from_dict
    from jointdiff.model import read_model_file
    from jointdiff.sample.generate import check_guidable, sample_to_file
    from jointdiff.sample.targets import class_targets, training_attribute_targets, unconditional_targets

    cfg = config_from_dict(read_model_file(args.model)["config"])
    settings.check_fits(cfg.diffusion_steps)
    if args.seeds is not None:
        targets = unconditional_targets(parse_seeds(args.seeds, args.allow_large))
    else:
        check_guidable(cfg, settings, args.model)
        targets = (class_targets(cfg, args.classes, args.per_class, args.allow_large) if args.classes is not None
                   else training_attribute_targets(cfg, args.attribute, args.per_class, dataroot=args.dataroot,
                                                   model=args.model, allow_large=args.allow_large))
    if settings.noised_classifier:
        from jointdiff.sample.classic_guidance import cached_noised_classifier, check_noised_classifier
        check_noised_classifier(cached_noised_classifier(settings.noised_classifier, "cpu")[1], cfg,
                                settings.noised_classifier)
    sample_to_file(args.model, out, targets, settings, batch_size=args.batch_size, device=args.device)
    return 0
