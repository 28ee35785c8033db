"""`jointdiff summary` through the real CLI, with the seed README's CIFAR10 flags."""

import json
import re

import torch

from jointdiff.cli import main
from jointdiff.config import load_config
from jointdiff.model import build_model, count_parameters

torch.set_num_threads(1)  # tiny models on a shared 2-core CPU: extra threads cost more than they save

SEED_CIFAR10 = (  # the seed README's CIFAR10 command, verbatim
    "--dataset CIFAR10 --num_channels 128 --num_res_blocks 3 --learn_sigma False --dropout 0.3 "
    "--diffusion_steps 1000 --noise_schedule linear --use_kl False --lr 1e-4 --batch_size 256 "
    "--schedule_sampler uniform --plot_interval 10000 --save_interval 20000 --class_cond True --skip_save False "
    "--gpu_id 1 --validation_interval 100 --num_steps 500000 --skip_validation False --validate_on_train False "
    "--train_with_classifier True --train_noised_classifier False --eval_on_test_set True "
    "--classifier_loss_scaling 0.001"
).split()


def test_json_summary_of_the_papers_cifar10_model(capsys):
    assert main(["summary", "--json", *SEED_CIFAR10]) == 0
    summary = json.loads(capsys.readouterr().out)
    model = build_model(load_config(flags=SEED_CIFAR10))
    assert summary["unet_parameters"] == count_parameters(model.unet)
    assert summary["head_parameters"] == count_parameters(model.head) > 0
    assert summary["feature_width"] == 3712
    assert [(lv["resolution"], lv["channels"]) for lv in summary["levels"]] == [(32, 128), (16, 256), (8, 256),
                                                                                (4, 256)]
    assert summary["attention_resolutions"] == [16, 8]
    assert summary["middle"] == {"resolution": 4, "channels": 256, "attention": True}


def test_table_summary_from_a_yaml_file_with_flag_overrides(tmp_path, capsys):
    config = tmp_path / "fashion.yaml"
    config.write_text("flags: --dataset FashionMNIST --num_channels 64 --num_res_blocks 3\n")
    assert main(["summary", "--config", str(config), "--num_channels", "32", "--num_res_blocks", "1"]) == 0
    table = capsys.readouterr().out
    assert re.search(r"head parameters\s+0\n", table)  # train_with_classifier is off by default
    assert "28x28" in table and "attention (besides the middle block): 28x28" in table


def test_bad_flag_is_a_one_line_user_error(capsys):
    assert main(["summary", "--dataset", "CIFAR10", "--num_channels", "100"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "num_channels" in err
