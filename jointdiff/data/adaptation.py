"""Domain-adaptation sets made of two prepared datasets (the authors' DA_SVHN_MNIST), and the digits stand-in.

Train: the source domain's training images with their labels, then the target domain's training images with
their labels hidden (-1); test: the target's test images. Both domains are converted to the set's size and
channels (MNIST becomes 3 x 32 x 32 for SVHN -> MNIST, as the authors' MNIST32 loader did). When both domains are
the same dataset (the digits stand-in), its training split is cut into two fixed disjoint halves, so no image is
in both domains, and the target half and the test images are inverted (255 - x).

Nothing is downloaded here: the domains are prepared first (the workflow's prepare job of this set waits for
theirs); `<root>/<name>/components.json` records their manifests' checksums. The domains are read through their
own sources, which the registry (`sources.py`) hands over, so this source sits beside them, below the loaders.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from jointdiff.atomic import atomic_write_json
from jointdiff.data.image_shapes import convert_array
from jointdiff.data.layout import dataset_dir, manifest_path, prepare_command
from jointdiff.data.manifest import check_files, read_manifest, sha256
from jointdiff.data.masking import UNLABELLED
from jointdiff.data.raw import RawSplit, Source
from jointdiff.data.specs import get_spec
from jointdiff.data.splits import carve
from jointdiff.errors import DatasetError

COMPONENTS = "components.json"
HALVES_SEED = 0


class AdaptationSource:
    official_splits = ("train", "test")

    def __init__(self, name: str, domain_sources: dict[str, Source], invert_target: bool = False) -> None:
        """domain_sources: the source of each domain of the set (both are array datasets)."""
        self.name = name
        self.source, self.target = get_spec(name).domains
        self.domain_sources = domain_sources
        self.invert_target = invert_target

    def fetch(self, root: Path, download: bool, source: Path | None) -> None:
        """Check that both domains are prepared and record their manifests; `download` does not apply."""
        if source is not None:
            raise DatasetError(f"dataset {self.name}: --source only applies to the folder dataset")
        missing = [d for d in dict.fromkeys((self.source, self.target)) if not manifest_path(d, root).is_file()]
        if missing:
            raise DatasetError(f"dataset {self.name} is made of {self.source} and {self.target}, but "
                               f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not prepared under "
                               f"{root}: run "
                               f"{' and '.join(f'`{prepare_command(d, root)}`' for d in missing)} first")
        for domain in dict.fromkeys((self.source, self.target)):
            read_manifest(domain, root)  # readable and of the right dataset
        atomic_write_json(self._components(root), {d: sha256(manifest_path(d, root))
                                                   for d in dict.fromkeys((self.source, self.target))})

    def _components(self, root: Path) -> Path:
        return dataset_dir(self.name, root) / COMPONENTS

    def _domain(self, domain: str, root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """A domain's official split at this set's size and channels, its files checked as the loaders check them."""
        check_files(read_manifest(domain, root), root)
        raw = self.domain_sources[domain].open(root, split)
        spec = get_spec(self.name)
        return convert_array(raw.images, spec.image_size, spec.channels), raw.labels

    def open(self, root: Path, split: str) -> RawSplit:
        if not self._components(root).is_file():
            raise DatasetError(f"dataset {self.name} is not prepared under {root}: run "
                               f"`{prepare_command(self.name, root)}`")
        recorded = json.loads(self._components(root).read_text())
        changed = [d for d, digest in recorded.items() if sha256(manifest_path(d, root)) != digest]
        if changed:
            raise DatasetError(f"dataset {self.name}: {', '.join(changed)} changed since it was prepared; run "
                               f"`{prepare_command(self.name, root)}` again")
        classes = tuple(read_manifest(self.source, root)["classes"])
        if split == "test":
            images, labels = self._domain(self.target, root, "test")
            return RawSplit(labels=labels, classes=classes, images=self._map_target(images))
        source_x, source_y = self._domain(self.source, root, "train")
        target_x, _ = self._domain(self.target, root, "train")
        if self.source == self.target:
            source_half, target_half = carve(len(source_x), 0.5, HALVES_SEED)
            source_x, source_y, target_x = source_x[source_half], source_y[source_half], target_x[target_half]
        hidden = torch.full((len(target_x),), UNLABELLED, dtype=source_y.dtype)
        return RawSplit(labels=torch.cat([source_y, hidden]), classes=classes,
                        images=torch.cat([source_x, self._map_target(target_x)]))

    def _map_target(self, images: torch.Tensor) -> torch.Tensor:
        return 255 - images if self.invert_target else images

    def data_paths(self, root: Path) -> list[Path]:
        return [self._components(root)]
