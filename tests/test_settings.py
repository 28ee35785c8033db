"""The settings base (jointdiff/settings.py): options made from the fields read their own flags back, a mapping's
values are typed with the bad key named, and the seed README's spelling stays accepted verbatim."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass

import pytest

from jointdiff.commands.experiment_options import add_config_flags, flags_from_args
from jointdiff.config import ExperimentConfig, load_config, parse_flags
from jointdiff.errors import ConfigError, UserError
from jointdiff.noised_classifier.settings import NoisedClassifierSettings, add_settings_arguments
from jointdiff.sample.settings import SamplingSettings, add_sampling_arguments
from jointdiff.settings import Settings, flag, setting


@dataclass(frozen=True)
class Toy(Settings):
    count: int = setting(3, "how many")
    scale: float = setting(0.5, "how much")
    mode: str = setting("fast", "how", choices=("fast", "slow"))
    on: bool = setting(False, "a switch that starts off")
    keep: bool = setting(True, "a switch that starts on")


@dataclass(frozen=True)
class SeedToy(Toy):
    SPELLING = "seed"


def parser_of(add) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add(parser)
    return parser


def read_back(cls, add, settings, only_changed=True):
    """The settings through their flags: `to_flags`, split as a shell would, parsed, `from_args`."""
    args = parser_of(add).parse_args(shlex.split(settings.to_flags(only_changed)))
    return cls.from_args(args)


@pytest.mark.parametrize("only_changed", [True, False])
@pytest.mark.parametrize("cls, add, settings", [
    (Toy, lambda p: Toy.add_arguments(p, "toy"), Toy(count=7, scale=1e-4, mode="slow", on=True, keep=False)),
    (SeedToy, lambda p: SeedToy.add_arguments(p, "toy"), SeedToy(count=7, scale=1e-4, mode="slow", on=True, keep=False)),
    (SamplingSettings, add_sampling_arguments,
     SamplingSettings(sampler="ddim", steps=3, eta=0.5, clip_x0=True, alpha=10.0, guidance="x0", head_t="zero",
                      guide_until=0.25, normalize_grad=True)),
    (SamplingSettings, add_sampling_arguments, SamplingSettings(guidance="classifier", alpha=1.0,
                                                                noised_classifier="runs/a classifier.pt")),
    (NoisedClassifierSettings, add_settings_arguments,
     NoisedClassifierSettings(width=64, depth=1, attention_resolutions="16", head_channels=32, lr=1e-3, seed=3)),
    (ExperimentConfig, add_config_flags,
     ExperimentConfig(dataset="CIFAR10", num_channels=64, channel_mult="1,2,2,2", learn_sigma=False, in_memory=False,
                      train_with_classifier=True, lr=3e-4, experiment_name="a run", microbatch=4)),
])
def test_to_flags_read_back_by_the_generated_options_give_an_equal_object(cls, add, settings, only_changed):
    assert read_back(cls, add, settings, only_changed) == settings


def test_the_defaults_read_back_from_no_flags():
    assert SamplingSettings().to_flags() == "" and SamplingSettings.from_args(parser_of(add_sampling_arguments)
                                                                              .parse_args([])) == SamplingSettings()
    assert NoisedClassifierSettings.from_args(parser_of(add_settings_arguments).parse_args([])) == \
        NoisedClassifierSettings()


def test_the_spellings_of_a_flag():
    assert flag("clip_x0") == "clip-x0" and flag("num_channels", "seed") == "num_channels"


def test_a_dash_boolean_is_a_switch_and_a_seed_boolean_takes_true_or_false():
    assert Toy(on=True, keep=False).to_flags() == "--on --no-keep"
    assert SeedToy(on=True, keep=False).to_flags() == "--on True --keep False"
    dash = parser_of(lambda p: Toy.add_arguments(p, "toy"))
    assert Toy.from_args(dash.parse_args(["--on", "--no-keep"])) == Toy(on=True, keep=False)
    seed = parser_of(lambda p: SeedToy.add_arguments(p, "toy"))
    assert SeedToy.from_args(seed.parse_args(["--on", "yes", "--keep", "0"])) == SeedToy(on=True, keep=False)


def test_the_sample_commands_clip_x0_switch_and_alpha_default():
    """`--clip-x0` as the workflow and the tests type it; counterfactual's options default alpha to 1000."""
    args = parser_of(lambda p: add_sampling_arguments(p, alpha=1000.0)).parse_args(["--clip-x0", "--head-t", "zero"])
    assert SamplingSettings.from_args(args) == SamplingSettings(clip_x0=True, head_t="zero", alpha=1000.0)


def test_a_dash_option_refuses_a_value_of_the_wrong_type_or_outside_its_choices():
    parser = parser_of(add_sampling_arguments)
    with pytest.raises(argparse.ArgumentError, match="invalid int value: '1.5'"):
        parser.parse_args(["--steps", "1.5"])
    with pytest.raises(argparse.ArgumentError, match="invalid choice: 'middle'"):
        parser.parse_args(["--head-t", "middle"])


@pytest.mark.parametrize("values, expected", [
    ({"count": "1e3", "scale": "2", "mode": "slow", "on": "TRUE", "keep": "no"},
     Toy(count=1000, scale=2.0, mode="slow", on=True, keep=False)),
    ({"count": 4.0, "scale": 1, "on": 1, "keep": False}, Toy(count=4, scale=1.0, on=True, keep=False)),
    (None, Toy()),
])
def test_from_mapping_types_text_and_yaml_values(values, expected):
    assert Toy.from_mapping(values) == expected


@pytest.mark.parametrize("values, message", [
    ({"count": "many"}, "cfg.yaml: toy.count expects an integer, got 'many'"),
    ({"count": 1.5}, "cfg.yaml: toy.count expects an integer, got 1.5"),
    ({"count": True}, "cfg.yaml: toy.count expects an integer, got True"),
    ({"scale": "half"}, "cfg.yaml: toy.scale expects a number, got 'half'"),
    ({"on": "maybe"}, "cfg.yaml: toy.on expects True or False, got 'maybe'"),
    ({"cuont": 3}, "cfg.yaml: unknown key toy.cuont (did you mean count?)"),
    ({"zzz": 3}, "cfg.yaml: unknown key toy.zzz; known: count, scale, mode, on, keep"),
    ([1, 2], "cfg.yaml: toy must be a mapping of count, scale, mode, on, keep, got [1, 2]"),
])
def test_a_bad_key_or_value_is_named_with_where_it_came_from(values, message):
    with pytest.raises(ConfigError) as err:
        Toy.from_mapping(values, "cfg.yaml", block="toy")
    assert str(err.value) == message


def test_a_validation_error_keeps_its_class_and_message_behind_where():
    with pytest.raises(UserError) as err:
        SamplingSettings.from_mapping({"steps": -1}, "config key sampling")
    assert str(err.value) == "config key sampling: --steps must be >= 0 (0 = every diffusion step), got -1"
    with pytest.raises(ConfigError, match="^x.yaml: noised classifier: width must be a multiple of 32"):
        NoisedClassifierSettings.from_mapping({"width": 48}, "x.yaml")


def test_the_seed_spelling_is_accepted_verbatim():
    """The seed README's flags (underscores, True/False values), as a string, as tokens and as command-line
    options; flags the command line does not give stay out of the namespace, so a YAML file's values stand."""
    readme = "--dataset CIFAR10 --num_channels 128 --learn_sigma False --train_with_classifier True --dropout 0.3"
    assert parse_flags(readme) == {"dataset": "CIFAR10", "num_channels": 128, "learn_sigma": False,
                                   "train_with_classifier": True, "dropout": 0.3}
    args = parser_of(add_config_flags).parse_args(shlex.split(readme))
    tokens = flags_from_args(args)
    assert dict(zip(tokens[::2], tokens[1::2])) == dict(zip(*[iter(shlex.split(readme))] * 2))
    assert load_config(flags=flags_from_args(args)) == load_config(flags=readme)
    assert not hasattr(args, "num_steps")


def test_the_experiment_config_flags_are_its_changed_settings_in_the_seed_spelling():
    cfg = ExperimentConfig(num_channels=64, learn_sigma=False, train_with_classifier=True, channel_mult="1,2")
    assert cfg.to_flags() == "--num_channels 64 --channel_mult 1,2 --train_with_classifier True"


def test_the_noised_classifier_flags_give_every_setting():
    assert NoisedClassifierSettings().to_flags() == (
        "--width 128 --depth 2 --attention-resolutions 32,16,8 --head-channels 64 --lr 0.0003 --batch-size 256 "
        "--iterations 150000 --weight-decay 0.0 --save-interval 10000 --seed 0")


def test_every_field_of_the_settings_classes_has_a_help_line():
    from dataclasses import fields
    for cls in (ExperimentConfig, SamplingSettings, NoisedClassifierSettings):
        assert all(f.metadata.get("help") for f in fields(cls)), cls.__name__
