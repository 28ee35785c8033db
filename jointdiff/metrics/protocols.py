"""FID protocols: which reference split and how many samples, so that two kinds of FID are never mixed up.

- `standard`: the usual protocol: all samples given (at least 50,000 at paper scale), the
  train split as reference, TF-Inception pool3 with the TF-exact resize, float64 statistics.
- `paper`: the authors' in-training FID: the first 5,000 samples against the test split. They computed it
  on the raw (not EMA) weights' samples; which weights made the samples is chosen when sampling, not here.
  Their Inception read [−1, 1] images as if they were [0, 1] (a pytorch-fid-style port that maps [0, 1] to
  [−1, 1] itself), with its own resize, and their precision/recall was PRD, not k-NN. None of that is
  reproduced: the port's code could not be read, so its resize and normalisation cannot be verified, and
  the features stay TF-Inception's on uint8 images. Only the split and the sample count are theirs, so
  paper-protocol numbers are comparable with each other, not with their printed values.
"""

from __future__ import annotations

from dataclasses import dataclass

from jointdiff.errors import ConfigError


@dataclass(frozen=True)
class Protocol:
    name: str
    reference_split: str       # the split the reference statistics come from
    num_samples: int | None    # samples used (the first ones); None: all that are given
    min_samples: int           # fewer are refused unless it is a smoke test
    model_weights: str | None  # weights the samples should come from ("raw", "ema"); None: either
    label: str                 # one line for tables and metric files


PROTOCOLS: dict[str, Protocol] = {}


def register_protocol(protocol: Protocol) -> None:
    assert protocol.name not in PROTOCOLS, f"protocol {protocol.name} registered twice"
    assert protocol.num_samples is None or protocol.num_samples >= protocol.min_samples
    PROTOCOLS[protocol.name] = protocol


def get_protocol(name: str) -> Protocol:
    """Look a protocol up by name; an unknown one names the valid ones."""
    if name not in PROTOCOLS:
        raise ConfigError(f"--protocol {name!r}: unknown; valid protocols: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


register_protocol(Protocol("standard", "train", None, 50_000, None,
                           "standard FID: train-split reference, TF-Inception pool3, all samples"))
register_protocol(Protocol("paper", "test", 5_000, 5_000, "raw",
                           "paper-protocol FID (the authors' in-training variant): test-split reference, "
                           "5,000 samples; not comparable with standard FID"))
