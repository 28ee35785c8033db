"""Reading the report's input files, each checked for the keys it needs.

Every problem is a UserError that names the file and the key, so a half-written or out-of-date metric file
stops the report with one line instead of a traceback or, worse, a wrong number.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from jointdiff.errors import UserError
from jointdiff import keys as K

ALPHA_IN_NAME = re.compile(r"_alpha(-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\.(?:npz|json)$")  # as `{alpha:g}` writes it
WEIGHTS_IN_FID_NAME = re.compile(r"^fid_[A-Za-z0-9]+_(raw|ema)\.json$")


def get_key(data: Any, key: str, source: Path | str) -> Any:
    """data[key] for a dotted key such as "weights.ema.accuracy"; a missing one names `source` and the key."""
    value = data
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise UserError(f"{source}: missing key {key!r}")
        value = value[part]
    return value


def get_number(data: Any, key: str, source: Path | str, *, optional: bool = False) -> float | None:
    """A numeric value under `key`; with `optional`, None when the key is absent or null."""
    if optional and (not isinstance(data, dict) or data.get(key) is None):
        return None
    value = get_key(data, key, source)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UserError(f"{source}: key {key!r} should be a number, not {value!r}")
    return float(value)


def _open_error(path: Path) -> UserError | None:
    return None if path.is_file() else UserError(f"{path}: no such file")


def read_json(path: Path, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON object that holds every (dotted) key in `required`."""
    if err := _open_error(path):
        raise err
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object, found {type(data).__name__}")
    for key in required:
        get_key(data, key, path)
    return data


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """One JSON object per non-empty line; at least one."""
    if err := _open_error(path):
        raise err
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}, line {number}: not valid JSON ({exc})") from None
        if not isinstance(record, dict):
            raise UserError(f"{path}, line {number}: expected a JSON object")
        records.append(record)
    if not records:
        raise UserError(f"{path}: empty log")
    return records


def read_npz(path: Path, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, which must hold the keys in `required`."""
    if err := _open_error(path):
        raise err
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a readable .npz archive ({exc})") from None
    for key in required:
        if key not in arrays:
            raise UserError(f"{path}: missing key {key!r}")
    return arrays


def check_images(images: np.ndarray, key: str, source: Path) -> np.ndarray:
    """uint8 N x H x W x C images with C = 1 or 3, at least one."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) == 0:
        raise UserError(f"{source}: key {key!r} should hold uint8 N x H x W x C images (C = 1 or 3), "
                        f"found {images.dtype} {tuple(images.shape)}")
    return images


def experiment_of(data: dict[str, Any], source: Path) -> str:
    """The `experiment` field, or <experiment> from the path results/<experiment>/metrics/<file>."""
    if data.get(K.KEY_EXPERIMENT):
        return str(data[K.KEY_EXPERIMENT])
    if source.parent.name == "metrics" and source.parent.parent.name:
        return source.parent.parent.name
    raise UserError(f"{source}: missing key {K.KEY_EXPERIMENT!r} (and the path is not "
                    "<results>/<experiment>/metrics/<file>)")


def weights_of_fid(data: dict[str, Any], source: Path) -> str:
    """The `weights` field of an FID file, or <weights> from its name fid_<protocol>_<weights>.json."""
    match = WEIGHTS_IN_FID_NAME.match(source.name)
    weights = data.get(K.KEY_WEIGHTS) or (match.group(1) if match else None)
    if weights is None:
        raise UserError(f"{source}: missing key {K.KEY_WEIGHTS!r} (and the name is not "
                        "fid_<protocol>_<weights>.json)")
    if weights not in K.REPORT_WEIGHTS:
        raise UserError(f"{source}: key {K.KEY_WEIGHTS!r} should be one of {', '.join(K.REPORT_WEIGHTS)}, "
                        f"not {weights!r}")
    return str(weights)


def alpha_of(stored: Any, source: Path) -> float:
    """A guidance scale: the file's own `alpha` value if it has one, else <value> from `..._alpha<value>.npz`."""
    if stored is not None:
        value = np.asarray(stored)
        if value.size != 1 or not np.issubdtype(value.dtype, np.number):
            raise UserError(f"{source}: key {K.KEY_ALPHA!r} should be one number, found {value!r}")
        return float(value.reshape(()))
    match = ALPHA_IN_NAME.search(source.name)
    if not match:
        raise UserError(f"{source}: missing key {K.KEY_ALPHA!r} (and the name does not end in _alpha<number>.npz)")
    return float(match.group(1))


def read_paper(path: Path) -> dict[str, dict[str, Any]]:
    """The paper's numbers per experiment (config/paper_results.yaml); null values stay None."""
    import yaml

    if err := _open_error(path):
        raise err
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({exc})") from None
    paper = get_key(data, K.PAPER, path)
    if not isinstance(paper, dict):
        raise UserError(f"{path}: key {K.PAPER!r} should map experiment names to their numbers")
    for name, entry in paper.items():
        where = f"{path}, {K.PAPER}.{name}"
        if not isinstance(entry, dict):
            raise UserError(f"{where}: expected a mapping with {K.PAPER_ACCURACY}, {K.PAPER_FID}, {K.PAPER_SOURCE}")
        for metric in (K.PAPER_ACCURACY, K.PAPER_FID):
            get_number(entry, metric, where, optional=True)
    return paper
