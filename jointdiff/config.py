"""The experiment config: every setting of a training run, in one typed dataclass.

Settings arrive in three layers, later ones winning: the defaults below, an experiment YAML file
(`config/experiments/<name>.yaml`), and command-line flags. Flags use the seed README's names and spelling
(`--num_channels 128 --learn_sigma False ...`), so the authors' commands paste in unchanged. A YAML file may
hold the same flags as one string under `flags:` and/or the fields as keys. Torch-free: a bad value fails in
milliseconds with the field named.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from jointdiff.choices import NOISE_SCHEDULES
from jointdiff.data.specs import get_spec
from jointdiff.errors import ConfigError, UserError
from jointdiff.settings import Settings, setting

# The authors' augmentation list for the classifier's input, in the order they apply it.
PAPER_AUGMENTATIONS = ("color_jitter", "resized_crop", "rotation", "hflip", "contrast", "sharpness",
                       "brightness", "mixup")
# Image-size-dependent channel multipliers of the ADM UNet (guided-diffusion's); 8 and 16 px are ours (demo data).
CHANNEL_MULT_BY_SIZE = {8: (1, 2), 16: (1, 2, 2), 28: (1, 2, 2), 32: (1, 2, 2, 2), 64: (1, 2, 3, 4)}
# Keys of an experiment YAML file that are not config fields: the flag string, and the blocks and notes that
# jointdiff/workflow/experiment_file.py reads for the workflow and for people.
YAML_META_KEYS = ("flags", "description", "source", "resources", "outputs", "noised_classifier")
# Blocks of the workflow config that an experiment file cannot set: refused by name, never silently ignored.
WORKFLOW_KEYS = ("sampling", "evaluation", "train", "report", "probe", "classic_guidance")
# Settings a resumed run may change: how long it trains, how often it logs, validates, plots and checkpoints,
# where its data lives and how it is read, and switches that leave the maths the same. Any other difference from
# the checkpoint's config is refused on resume: its weights (and optimizer state) were made with the old values.
RESUME_MAY_CHANGE = ("num_steps", "save_interval", "checkpoint_minutes", "keep_checkpoints", "plot_interval",
                     "validation_interval", "validation_subset", "skip_validation", "skip_save", "num_workers",
                     "in_memory", "dataroot", "experiment_name", "gpu_id", "allow_cpu", "microbatch",
                     "channels_last", "compile")


@dataclass
class ExperimentConfig(Settings):
    SPELLING = "seed"

    # --- data -------------------------------------------------------------------------------------------
    dataset: str = setting("digits", "dataset name (see `jointdiff prepare --help` for the list)")
    dataroot: str = setting("data", "directory holding one folder per prepared dataset")
    experiment_name: str = setting("", "name of the run; results go to results/<experiment_name>")
    image_size: int = setting(0, "image side in pixels; 0 = the dataset's own size")
    in_channels: int = setting(0, "image channels; 0 = the dataset's own")
    num_classes: int = setting(0, "classes (or attributes); 0 = the dataset's own")
    labelled_data_share: float = setting(1.0, "fraction of training labels kept (semi-supervised runs), seeded")
    in_memory: bool = setting(True, "hold the whole uint8 dataset in memory (small datasets)")
    num_workers: int = setting(2, "DataLoader worker processes per training process")
    # --- model ------------------------------------------------------------------------------------------
    num_channels: int = setting(128, "base channel width C of the UNet")
    num_res_blocks: int = setting(2, "ResBlocks per resolution level in the encoder")
    channel_mult: str = setting("", "comma list of width multipliers per level; empty = by image size")
    attention_resolutions: str = setting("16,8", "resolutions r with attention, turned into factors image_size//r "
                                                 "as the authors did (28 px -> attention at 28x28 only)")
    num_heads: int = setting(4, "attention heads")
    dropout: float = setting(0.0, "dropout in the UNet's ResBlocks")
    use_scale_shift_norm: bool = setting(True, "FiLM-style timestep conditioning in ResBlocks")
    learn_sigma: bool = setting(False, "learned variance (not implemented: the paper uses fixed variance)")
    class_cond: bool = setting(False, "load labels (the paper's meaning: the denoiser itself stays unconditional)")
    class_cond_denoiser: bool = setting(False, "extra, not in the paper: give the denoiser a label embedding")
    # --- diffusion --------------------------------------------------------------------------------------
    diffusion_steps: int = setting(1000, "number of diffusion steps T")
    noise_schedule: str = setting("linear", "beta schedule", choices=NOISE_SCHEDULES)
    use_kl: bool = setting(False, "KL loss (not implemented: the paper uses the epsilon MSE)")
    schedule_sampler: str = setting("uniform", "timestep sampler", choices=("uniform",))
    # --- joint classifier -------------------------------------------------------------------------------
    train_with_classifier: bool = setting(False, "add the classifier head and its loss (joint diffusion)")
    train_noised_classifier: bool = setting(False, "classifier sees x_t at the diffusion t instead of clean x0, t=0")
    classifier_loss_scaling: float = setting(0.001, "s in L = L_diff + s * L_cls")
    multi_label_classifier: bool = setting(False, "BCE over binary attributes instead of cross-entropy")
    diffusion_loss_weight: float = setting(1.0, "w in L = w * L_diff + s * L_cls; 0 = the classifier-only baseline")
    classifier_dropout: float = setting(0.7, "dropout in the joint head (paper: 0.7)")
    classifier_augmentation: str = setting("paper", "classifier input augmentations: 'paper', 'none' or a comma "
                                                    "list of " + ",".join(PAPER_AUGMENTATIONS))
    # --- optimisation -----------------------------------------------------------------------------------
    lr: float = setting(1e-4, "AdamW learning rate (constant)")
    weight_decay: float = setting(0.0, "AdamW weight decay")
    batch_size: int = setting(256, "GLOBAL batch size, split over processes (not per GPU as in the authors' code)")
    microbatch: int = setting(-1, "per-process micro-batch for gradient accumulation; -1 = no accumulation")
    num_steps: int = setting(100_000, "optimizer steps to train for")
    ema_rate: float = setting(0.9999, "EMA decay of the weights")
    seed: int = setting(0, "seed of every random draw (per rank: seed + rank)")
    # --- intervals and switches from the authors' script ---------------------------------------------------
    plot_interval: int = setting(10_000, "steps between sample grids; 0 = never")
    save_interval: int = setting(20_000, "steps between checkpoints")
    checkpoint_minutes: float = setting(30.0, "also checkpoint after this many wall-clock minutes; 0 = off")
    keep_checkpoints: int = setting(3, "newest checkpoints kept")
    validation_interval: int = setting(100, "steps between validations on a fixed subset")
    validation_subset: int = setting(1000, "images in the between-checkpoint validation subset")
    skip_validation: bool = setting(False, "no validation during training")
    validate_on_train: bool = setting(False, "validate on (a subset of) the training split")
    eval_on_test_set: bool = setting(True, "validate on the test split instead of a held-out train part")
    skip_save: bool = setting(False, "no checkpoints (the final model is still written)")
    gpu_id: int = setting(-1, "CUDA device for a single-process run; under torchrun LOCAL_RANK decides (-1)")
    # --- numerics and performance (the defaults: the authors' precision) -------------------------------------------
    tf32: bool = setting(True, "TF32 matmuls and convolutions on GPUs, as the authors' torch 1.11 ran them by default "
                               "(False: full float32); also for sampling and evaluating the model")
    bf16: bool = setting(False, "bf16 autocast for the forward passes")
    channels_last: bool = setting(False, "channels_last memory format")
    compile: bool = setting(False, "torch.compile the UNet")
    allow_cpu: bool = setting(True, "allow training on CPU (paper-scale configs should set False)")

    # -------------------------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        spec = get_spec(self.dataset)
        self.dataset = spec.name
        for name in ("num_channels", "num_res_blocks", "num_heads", "diffusion_steps", "batch_size",
                     "num_steps", "save_interval", "keep_checkpoints", "validation_interval"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("image_size", "in_channels", "num_classes", "plot_interval", "num_workers",
                     "validation_subset", "checkpoint_minutes"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        for name in ("dropout", "classifier_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0.0 < self.labelled_data_share <= 1.0:
            raise ConfigError(f"labelled_data_share must be in (0, 1], got {self.labelled_data_share}")
        if not 0.0 <= self.ema_rate < 1.0:
            raise ConfigError(f"ema_rate must be in [0, 1), got {self.ema_rate}")
        for name in ("weight_decay", "classifier_loss_scaling", "diffusion_loss_weight"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.diffusion_loss_weight == 0 and not self.train_with_classifier:
            raise ConfigError("diffusion_loss_weight 0 trains nothing without train_with_classifier True")
        if self.learn_sigma:
            raise ConfigError("learn_sigma True is not implemented: the paper's runs use fixed variance "
                              "(learn_sigma False)")
        if self.use_kl:
            raise ConfigError("use_kl True is not implemented: the paper's runs use the epsilon MSE (use_kl False)")
        if self.noise_schedule not in NOISE_SCHEDULES:
            raise ConfigError(f"noise_schedule must be one of {', '.join(NOISE_SCHEDULES)}, "
                              f"got {self.noise_schedule!r}")
        if self.schedule_sampler != "uniform":
            raise ConfigError(f"schedule_sampler must be 'uniform', got {self.schedule_sampler!r}")
        if self.microbatch == 0 or self.microbatch < -1:
            raise ConfigError(f"microbatch must be -1 (off) or >= 1, got {self.microbatch}")
        if self.multi_label_classifier != spec.multi_label and self.train_with_classifier:
            kind = "multi-label" if spec.multi_label else "single-label"
            raise ConfigError(f"multi_label_classifier {self.multi_label_classifier} does not fit {spec.name}, "
                              f"which is {kind}")
        self.augmentations()  # validates the list
        self.resolved_channel_mult()  # validates sizes
        if self.resolved_image_size() % (2 ** (len(self.resolved_channel_mult()) - 1)) != 0:
            raise ConfigError(f"image_size {self.resolved_image_size()} is not divisible by "
                              f"2**(levels-1) for channel_mult {self.channel_mult or 'default'}")
        if self.num_channels % 32 != 0:
            raise ConfigError(f"num_channels must be a multiple of 32 (GroupNorm(32)), got {self.num_channels}")
        for r in self.attention_resolution_list():
            if r <= 0:
                raise ConfigError(f"attention_resolutions must be positive integers, "
                                  f"got {self.attention_resolutions!r}")

    # --- derived values (the config stores what the user said; these resolve the defaults) -----------------
    def resolved_image_size(self) -> int:
        return self.image_size or get_spec(self.dataset).image_size

    def resolved_channels(self) -> int:
        return self.in_channels or get_spec(self.dataset).channels

    def resolved_num_classes(self) -> int:
        return self.num_classes or get_spec(self.dataset).num_classes

    def resolved_channel_mult(self) -> tuple[int, ...]:
        if self.channel_mult:
            try:
                mult = tuple(int(m) for m in str(self.channel_mult).split(","))
            except ValueError:
                raise ConfigError(f"channel_mult must be a comma list of integers, got {self.channel_mult!r}")
            if not mult or min(mult) < 1:
                raise ConfigError(f"channel_mult entries must be >= 1, got {self.channel_mult!r}")
            return mult
        size = self.resolved_image_size()
        if size not in CHANNEL_MULT_BY_SIZE:
            raise ConfigError(f"image_size {size} has no default channel_mult (known: "
                              f"{sorted(CHANNEL_MULT_BY_SIZE)}); set channel_mult")
        return CHANNEL_MULT_BY_SIZE[size]

    def attention_resolution_list(self) -> list[int]:
        text = str(self.attention_resolutions).strip()
        if not text:
            return []
        try:
            return [int(r) for r in text.split(",")]
        except ValueError:
            raise ConfigError(f"attention_resolutions must be a comma list of integers, "
                              f"got {self.attention_resolutions!r}")

    def augmentations(self) -> tuple[str, ...]:
        text = str(self.classifier_augmentation).strip().lower()
        if text == "paper":
            return PAPER_AUGMENTATIONS
        if text in ("none", ""):
            return ()
        names = tuple(n.strip() for n in text.split(","))
        for n in names:
            if n not in PAPER_AUGMENTATIONS:
                raise ConfigError(f"classifier_augmentation: unknown augmentation {n!r}; valid: 'paper', 'none' "
                                  f"or a comma list of {', '.join(PAPER_AUGMENTATIONS)}")
        return names


# --- parsing ------------------------------------------------------------------------------------------------
def parse_value(name: str, raw: Any) -> Any:
    """Turn a flag's text (or a YAML value) into the field's type; ConfigError names the field."""
    return ExperimentConfig.value_of(name, raw)


def parse_flags(tokens: list[str] | str) -> dict[str, Any]:
    """Parse `--name value` pairs (the seed README's style) into typed field values."""
    if isinstance(tokens, str):
        tokens = shlex.split(tokens)
    values: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            raise ConfigError(f"expected a --flag, got {token!r}")
        name = token[2:].replace("-", "_")
        if "=" in name:
            name, raw = name.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise ConfigError(f"--{name} needs a value")
            raw = tokens[i + 1]
            i += 2
        values[name] = parse_value(name, raw)
    return values


def read_yaml_settings(path: str | Path) -> dict[str, Any]:
    """Read an experiment YAML file into typed field values (its `flags:` string first, then its keys)."""
    return yaml_settings(read_yaml_file(path), path)


def read_yaml_file(path: str | Path) -> dict[str, Any]:
    """An experiment YAML file's mapping; the error names the file when it is missing, not YAML, empty or not a
    mapping."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"experiment config {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())})")
    if data is None:
        raise ConfigError(f"{path} is empty: an experiment file names at least its dataset (see "
                          "config/experiments/ for examples)")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


def yaml_settings(data: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """The typed field values of an experiment file's mapping (read from `path`): its `flags:` string first, then
    its keys; the keys of YAML_META_KEYS are left to their readers, a workflow block is refused."""
    try:
        values = parse_flags(str(data.get("flags", "")))
        for key in WORKFLOW_KEYS:
            if key in data:
                raise ConfigError(f"{key}: is a block of the workflow config (config/config.yaml, documented in "
                                  "config/schema.yaml), the same for every experiment; an experiment file cannot "
                                  "set it")
        for key, raw in data.items():
            if key not in YAML_META_KEYS:
                values[key] = parse_value(key, raw)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}")
    return values


def load_config(path: str | Path | None = None, flags: list[str] | str | None = None,
                overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Defaults < YAML file < flags < overrides; validated, with the bad field named."""
    values: dict[str, Any] = {}
    if path:
        values.update(read_yaml_settings(path))
    if flags:
        values.update(parse_flags(flags))
    for key, raw in (overrides or {}).items():
        values[key] = parse_value(key, raw)
    return ExperimentConfig(**values)


def config_from_dict(data: dict[str, Any]) -> ExperimentConfig:
    """Rebuild a config saved with a model (ignores fields a newer version dropped, fails on bad values)."""
    names = {f.name for f in fields(ExperimentConfig)}
    known = {k: v for k, v in data.items() if k in names}
    return ExperimentConfig(**known)


def changed_settings(saved: dict[str, Any], cfg: ExperimentConfig) -> dict[str, tuple[Any, Any]]:
    """{setting: (saved value, value in cfg)} for every setting that differs from a saved config (a checkpoint's),
    leaving out those in RESUME_MAY_CHANGE."""
    before = config_from_dict(saved).to_dict()
    return {k: (before[k], v) for k, v in cfg.to_dict().items() if k not in RESUME_MAY_CHANGE and before[k] != v}
