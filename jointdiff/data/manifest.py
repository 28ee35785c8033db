"""The manifest that marks a dataset as ready: `<root>/<name>/manifest.json` (torch-free).

`jointdiff prepare` writes it last, through a temporary file and a rename, after every split has loaded with
its expected size; an interrupted download therefore never looks finished, and the loaders refuse a dataset
without one. It holds:

    name, format            the canonical dataset name; the manifest layout version
    splits                  images per split: train, test, valid, train_minus_valid
    official_splits         the splits read from the files; the others are carved (see `splits.py`)
    valid_carve             {"share", "seed"} of the carved `valid`, or null where it is official
    image_shape             [C, H, W] that the loaders produce by default
    num_classes, multi_label, classes    class names, or attribute names for multi-label data
    files                   per data file (relative to <root>/<name>/): {"sha256", "bytes", "mtime_ns"};
                            per image directory: {"files", "bytes"} (hashing 200k JPEGs would take minutes)
    created                 UTC time of writing

Loading a split checks the data files against it (`check_files`): the size always, the sha256 when the
modification time differs from the recorded one (once per process), so a file changed after `prepare` is named
instead of being trained on without notice. Image directories are not hashed: `prepare` decodes every image.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from jointdiff.atomic import atomic_write_json
from jointdiff.data.layout import dataset_dir, how_to_prepare, manifest_path, prepare_command
from jointdiff.data.specs import get_spec
from jointdiff.errors import DatasetError

MANIFEST_FORMAT = 1
HASH_CHUNK = 1 << 20


def read_manifest(name: str, root: str | Path) -> dict[str, Any]:
    """The manifest of a prepared dataset; DatasetError saying how to prepare it if there is none."""
    spec = get_spec(name)
    path = manifest_path(spec.name, root)
    if not path.is_file():
        raise DatasetError(f"dataset {spec.name} is not prepared under {root} (no {path}): "
                           f"{how_to_prepare(spec.name, root)}")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"dataset {spec.name}: manifest {path} is unreadable ({err}); delete it and "
                           f"{how_to_prepare(spec.name, root)}")
    if not isinstance(manifest, dict) or manifest.get("name") != spec.name \
            or manifest.get("format") != MANIFEST_FORMAT:
        raise DatasetError(f"dataset {spec.name}: {path} is not a format-{MANIFEST_FORMAT} manifest of "
                           f"{spec.name}; delete it and {how_to_prepare(spec.name, root)}")
    return manifest


def write_manifest(manifest: dict[str, Any], path: Path) -> None:
    """Write atomically: a reader sees the old state or the complete new file, never a partial one."""
    atomic_write_json(path, manifest)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe_files(base: Path, paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Checksums of data files and counts of image directories, keyed by path relative to `base`."""
    described: dict[str, dict[str, Any]] = {}
    for path in paths:
        key = path.relative_to(base).as_posix()
        if path.is_dir():
            files = [p for p in path.rglob("*") if p.is_file()]
            described[key] = {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}
        else:
            described[key] = {"sha256": sha256(path), "bytes": path.stat().st_size,
                              "mtime_ns": path.stat().st_mtime_ns}
    return described


_HASHED: set[tuple[str, int, int]] = set()  # (path, bytes, mtime_ns) of files whose hash matched, in this process


def check_files(manifest: dict[str, Any], root: str | Path) -> None:
    """DatasetError naming the first data file that is not what `prepare` recorded in `manifest`."""
    name = manifest["name"]
    for key, recorded in manifest.get("files", {}).items():
        if "sha256" not in recorded:
            continue  # an image directory
        path = dataset_dir(name, root) / key
        fix = (f"restore it, or run `{prepare_command(name, root)}` again to accept the file as it is now (delete "
               f"it first to have it made anew)")
        if not path.is_file():
            raise DatasetError(f"dataset {name}: {path} is gone since `jointdiff prepare` recorded it: {fix}")
        stat = path.stat()
        if stat.st_size != recorded["bytes"]:
            raise DatasetError(f"dataset {name}: {path} has {stat.st_size:,} bytes, {recorded['bytes']:,} when "
                               f"`jointdiff prepare` recorded it: {fix}")
        seen = (str(path), stat.st_size, stat.st_mtime_ns)
        if stat.st_mtime_ns == recorded.get("mtime_ns") or seen in _HASHED:
            continue
        if sha256(path) != recorded["sha256"]:
            raise DatasetError(f"dataset {name}: {path} has changed since `jointdiff prepare` recorded it (its "
                               f"sha256 differs): {fix}")
        _HASHED.add(seen)
