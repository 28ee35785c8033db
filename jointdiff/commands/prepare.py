"""Download or verify a dataset, then write <root>/<dataset>/manifest.json, which marks it ready.

Files already under the root are used as they are; only what is missing is downloaded. Without internet,
put the files in torchvision's layout under <root>/<dataset>/ and pass --no-download (a missing file is then
named in the error). Prints the manifest's path.

    jointdiff prepare --dataset CIFAR10 --root data
    jointdiff prepare --dataset CelebA --root /scratch/data --no-download
    jointdiff prepare --dataset folder --root data --source ~/my_images    (one sub-directory per class)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jointdiff.data.specs import DATASETS, get_spec
from jointdiff.errors import DatasetError


def _dataset_name(text: str) -> str:
    try:
        return get_spec(text).name
    except DatasetError as err:
        raise argparse.ArgumentTypeError(str(err))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, type=_dataset_name, metavar="NAME",
                        help=f"dataset to prepare: {', '.join(DATASETS)}")
    parser.add_argument("--root", default="data", type=Path, metavar="DIR",
                        help="data root holding one directory per dataset (default: data)")
    parser.add_argument("--no-download", dest="download", action="store_false",
                        help="never touch the network: fail, naming the missing files, if they are not there")
    parser.add_argument("--source", type=Path, metavar="DIR",
                        help="folder dataset only: directory of images, one sub-directory per class, to copy in")


def run(args: argparse.Namespace) -> int:
    from jointdiff.data.layout import manifest_path
    from jointdiff.data.prepare import prepare_dataset

    prepare_dataset(args.dataset, args.root, download=args.download, source=args.source)
    print(manifest_path(args.dataset, args.root))
    return 0
