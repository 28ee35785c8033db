"""Prepare a dataset: fetch what is missing, verify every split, then write the manifest that marks it ready.

The order is the point: the old manifest goes first, the new one is written last and atomically, so a
download or copy interrupted at any moment leaves a dataset that the loaders refuse with a clear message,
never one that looks finished. Files already in the root are used as they are (nothing is downloaded). Every
image file is decoded once here, so a broken one is named now rather than hours into a training run.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jointdiff.data.image_shapes import decode_image
from jointdiff.data.layout import dataset_dir, how_to_prepare, manifest_path
from jointdiff.data.manifest import MANIFEST_FORMAT, describe_files, write_manifest
from jointdiff.data.masking import UNLABELLED
from jointdiff.data.raw import RawSplit, Source
from jointdiff.data.sources import get_source
from jointdiff.data.specs import DatasetSpec, get_spec
from jointdiff.data.splits import VALID_SEED, VALID_SHARE, split_sizes
from jointdiff.errors import DatasetError

log = logging.getLogger(__name__)

MISSING_NAMED = 3  # missing image files named in an error
DECODE_LOG_EVERY = 20_000  # a progress line while image files are decoded


def _check_split(spec: DatasetSpec, root: Path, split: str, raw: RawSplit) -> None:
    """Size, image shape, label range and (for image files) presence; DatasetError on the first problem."""
    where = f"dataset {spec.name} under {root}: the {split} split"
    expected = spec.expected_sizes().get(split)
    if expected is not None and len(raw) != expected:
        raise DatasetError(f"{where} has {len(raw)} images, expected {expected}; the files are incomplete or not "
                           f"{spec.name}'s: {how_to_prepare(spec.name, root)}")
    if len(raw) == 0:
        raise DatasetError(f"{where} is empty: {how_to_prepare(spec.name, root)}")
    known = raw.labels[raw.labels != UNLABELLED]  # domain-adaptation sets hide the target domain's labels
    if not spec.multi_label and len(known) and not 0 <= int(known.min()) <= int(known.max()) < len(raw.classes):
        raise DatasetError(f"{where} has labels outside 0..{len(raw.classes) - 1}: {how_to_prepare(spec.name, root)}")
    if raw.images is not None:
        shape = (spec.channels, spec.image_size, spec.image_size)
        if tuple(raw.images.shape[1:]) != shape:
            raise DatasetError(f"{where} holds images of shape {tuple(raw.images.shape[1:])}, expected {shape}: "
                               f"{how_to_prepare(spec.name, root)}")
        return
    missing = [path for path in raw.paths if not Path(path).is_file()]
    if missing:
        raise DatasetError(f"{where} lacks {len(missing)} image files, e.g. {', '.join(missing[:MISSING_NAMED])}: "
                           f"{how_to_prepare(spec.name, root)}")
    for done, path in enumerate(raw.paths, 1):  # every one: a broken file would otherwise stop training hours in
        try:
            decode_image(path, spec.image_size, spec.channels)
        except (OSError, ValueError) as err:
            raise DatasetError(f"{where}: {path} is not a readable image ({err}); replace or delete it, then "
                               f"{how_to_prepare(spec.name, root)}") from err
        if done % DECODE_LOG_EVERY == 0:
            log.info("%s: %s split, %d of %d images decoded", spec.name, split, done, len(raw))


def verify(spec: DatasetSpec, source: Source, root: Path) -> tuple[dict[str, int], tuple[str, ...]]:
    """Open every official split and check it; returns their sizes and the class names."""
    sizes: dict[str, int] = {}
    classes: tuple[str, ...] = ()
    for split in source.official_splits:
        raw = source.open(root, split)
        _check_split(spec, root, split, raw)
        sizes[split] = len(raw)
        classes = classes or raw.classes
        log.info("%s: %s split verified, %d images", spec.name, split, len(raw))
    return sizes, classes


def prepare_dataset(name: str, root: str | Path, download: bool = True,
                    source: str | Path | None = None) -> dict[str, Any]:
    """Fetch (download=False: only use what is there), verify, and write `<root>/<name>/manifest.json`.

    source: a directory of images to copy in (the folder dataset only). Returns the manifest.
    """
    spec = get_spec(name)
    root = Path(root)
    data_source = get_source(spec.name)
    path = manifest_path(spec.name, root)
    directory = dataset_dir(spec.name, root)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # not ready again until verified
    except OSError as err:
        raise DatasetError(f"data root {root}: cannot write {directory} ({err.strerror}); choose a writable "
                           "directory (--root, or dataroot in the workflow config)") from None
    if not os.access(directory, os.W_OK):
        raise DatasetError(f"data root {root}: {directory} is not writable; choose a writable directory "
                           "(--root, or dataroot in the workflow config)")

    data_source.fetch(root, download, None if source is None else Path(source))
    sizes, classes = verify(spec, data_source, root)

    manifest = {
        "name": spec.name,
        "format": MANIFEST_FORMAT,
        "splits": split_sizes(sizes),
        "official_splits": list(data_source.official_splits),
        "valid_carve": None if "valid" in sizes else {"share": VALID_SHARE, "seed": VALID_SEED},
        "image_shape": [spec.channels, spec.image_size, spec.image_size],
        "num_classes": len(classes),
        "multi_label": spec.multi_label,
        "classes": list(classes),
        "files": describe_files(dataset_dir(spec.name, root), data_source.data_paths(root)),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_manifest(manifest, path)
    log.info("%s ready: %s", spec.name, path)
    return manifest
