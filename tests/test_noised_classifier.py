"""The noised classifier of classic guidance: its settings, network, resumable training and command line."""

from __future__ import annotations

import pytest
import torch

from jointdiff.cli import main
from jointdiff.errors import ConfigError
from jointdiff.noised_classifier.network import NoisedClassifier, load_noised_classifier
from jointdiff.noised_classifier.settings import NoisedClassifierSettings
from jointdiff.unet import ResBlock

torch.set_num_threads(1)


def test_the_defaults_are_the_authors_settings():
    s = NoisedClassifierSettings()
    assert (s.width, s.depth, s.attention_resolutions, s.head_channels, s.lr, s.iterations) == (
        128, 2, "32,16,8", 64, 3e-4, 150_000)


@pytest.mark.parametrize("block, message", [
    ({"widht": 64}, "unknown key noised_classifier.widht (did you mean width?)"),
    ({"width": "wide"}, "noised_classifier.width expects an integer"),
    ({"width": 96, "head_channels": 64}, "does not split into heads of 64"),
    ({"attention_resolutions": "16,x"}, "attention_resolutions"),
])
def test_a_bad_experiment_block_names_the_file_and_key(block, message):
    with pytest.raises(ConfigError) as err:
        NoisedClassifierSettings.from_mapping(block, "config/experiments/x.yaml")
    assert message in str(err.value) and str(err.value).startswith("config/experiments/x.yaml: ")


@pytest.mark.parametrize("size, channels", [(16, 1), (28, 1), (32, 3)])
def test_logits_for_every_paper_image_size(size, channels):
    """Down-sampling ResBlocks halve each level (28 -> 14 -> 7) down to the attention pooling's grid."""
    settings = NoisedClassifierSettings(width=32, depth=1, head_channels=32, attention_resolutions="16,8")
    model = NoisedClassifier(size, channels, 10, settings)
    logits = model(torch.randn(2, channels, size, size), torch.tensor([0, 500]))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    down = [m for m in model.modules() if isinstance(m, ResBlock) and m.down]
    assert len(down) == (2 if size < 32 else 3)


def train(data, run_dir, iterations):
    """`iterations` steps on 64 training digits (checkpoints every 2), scored on 16 test digits."""
    from jointdiff.diffusion import GaussianDiffusion, make_beta_schedule
    from jointdiff.train import fit_noised_classifier

    train_set, test_set = data
    settings = NoisedClassifierSettings(width=32, depth=1, attention_resolutions="8", head_channels=32, batch_size=8,
                                        iterations=iterations, save_interval=2)
    info = {"dataset": "digits", "image_size": 16, "channels": 1, "num_classes": 10, "multi_label": False,
            "diffusion_steps": 100, "noise_schedule": "linear"}
    fit_noised_classifier(settings, info, train_set, test_set, GaussianDiffusion(make_beta_schedule("linear", 100)),
                            run_dir=run_dir, out=run_dir / "classifier.pt", device=torch.device("cpu"))
    return load_noised_classifier(run_dir / "classifier.pt")


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(digits_root, tmp_path, caplog):
    from jointdiff.data.datasets import InMemoryDataset
    from jointdiff.data.loaders import load_split

    data = [load_split("digits", digits_root, split) for split in ("train", "test")]
    data = [InMemoryDataset(d.images[:n], d.labels[:n]) for d, n in zip(data, (64, 16))]
    straight, info = train(data, tmp_path / "straight", 4)
    train(data, tmp_path / "resumed", 2)  # ends with a checkpoint at step 2
    caplog.set_level("INFO")
    resumed, _ = train(data, tmp_path / "resumed", 4)
    assert "ckpt-000000002.pt at step 2" in caplog.text
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert info["step"] == 4 and info["settings"]["iterations"] == 4
    assert set(info["test_accuracy_by_t_fraction"]) == {"0", "0.1", "0.25", "0.5"}


@pytest.mark.parametrize("args, message", [
    (["--dataset", "ImageNet"], "unknown dataset 'ImageNet'"),
    (["--dataset", "digits", "--width", "48"], "width must be a multiple of 32"),
    (["--dataset", "digits", "--diffusion-steps", "1"], "--diffusion-steps must be >= 2"),
])
def test_bad_arguments_fail_before_training(tmp_path, capsys, args, message):
    base = {"--dataset": "digits", "--diffusion-steps": "100"}
    merged = dict(base, **dict(zip(args[::2], args[1::2])))
    argv = ["noised-classifier", *[x for kv in merged.items() for x in kv], "--dataroot", str(tmp_path),
            "--noise-schedule", "linear", "--run-dir", str(tmp_path / "r"), "--out", str(tmp_path / "c.pt")]
    assert main(argv) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "c.pt").exists()
