"""The joint head: its width comes from the built UNet, and its layers are the paper's."""

import pytest
import torch
import torch.nn.functional as F

from jointdiff.classifier import JointHead, pooled_representation
from jointdiff.config import load_config
from jointdiff.model import build_model
from jointdiff.unet import build_unet

torch.set_num_threads(1)  # tiny models on a shared 2-core CPU: extra threads cost more than they save

SEED_CIFAR10 = ("--dataset CIFAR10 --num_channels 128 --num_res_blocks 3 --learn_sigma False --dropout 0.3 "
                "--diffusion_steps 1000 --noise_schedule linear --train_with_classifier True")


def test_papers_32px_head_is_29_C_wide():
    model = build_model(load_config(flags=SEED_CIFAR10))
    assert model.head.feature_width == 29 * 128 == 3712
    assert model.head.bn_1.num_features == 3713
    assert (model.head.fc_1.in_features, model.head.fc_1.out_features) == (3713, 1856)
    assert model.head.bn_2.num_features == 1856
    assert (model.head.fc_2.in_features, model.head.fc_2.out_features) == (1856, 10)


@pytest.mark.parametrize("flags", [
    "--dataset digits --num_channels 32 --num_res_blocks 1",
    "--dataset FashionMNIST --num_channels 32 --num_res_blocks 2",
    "--dataset CIFAR10 --num_channels 32 --num_res_blocks 1 --image_size 16",
    "--dataset CelebA --num_channels 32 --num_res_blocks 1 --image_size 8 --channel_mult 1,2,2",
])
def test_head_width_matches_the_pooled_activations(flags):
    cfg = load_config(flags=flags)
    unet = build_unet(cfg)
    size, channels = cfg.resolved_image_size(), cfg.resolved_channels()
    enc = unet.encode(torch.randn(2, channels, size, size), torch.tensor([0, 3]))
    z = pooled_representation(enc.h, enc.hs, torch.tensor([0, 3]))
    head = JointHead(unet.feature_channels, cfg.resolved_num_classes(), dropout=0.7)
    assert z.shape == (2, head.feature_width + 1)
    assert head.feature_width == sum(a.shape[1] for a in enc.hs) + enc.h.shape[1]
    assert head(enc.h, enc.hs, torch.tensor([0, 3])).shape == (2, cfg.resolved_num_classes())


def test_pooled_representation_is_h_then_hs_then_t():
    h = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    hs = [torch.ones(2, 4, 4, 4), torch.full((2, 1, 2, 2), 5.0)]
    z = pooled_representation(h, hs, torch.tensor([0, 250]))
    torch.testing.assert_close(z[:, :3], h.mean(dim=(2, 3)))
    torch.testing.assert_close(z[:, 3:7], torch.ones(2, 4))
    torch.testing.assert_close(z[:, 7], torch.tensor([5.0, 5.0]))
    torch.testing.assert_close(z[:, 8], torch.tensor([0.0, 250.0]))  # the raw timestep


def test_head_is_dropout_bn_linear_leaky_dropout_bn_linear():
    torch.manual_seed(0)
    head = JointHead([4, 6], num_outputs=3, dropout=0.7).eval()
    for bn in (head.bn_1, head.bn_2):
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    h, hs, t = torch.randn(5, 6, 2, 2), [torch.randn(5, 4, 4, 4)], torch.randint(0, 10, (5,))
    z = torch.cat([h.mean(dim=(2, 3)), hs[0].mean(dim=(2, 3)), t.float()[:, None]], dim=1)
    z = F.leaky_relu(head.fc_1(head.bn_1(z)), 0.01)
    torch.testing.assert_close(head(h, hs, t), head.fc_2(head.bn_2(z)))
    head.train()
    assert head.dropout_1.p == head.dropout_2.p == 0.7


def test_no_head_without_train_with_classifier():
    model = build_model(load_config(flags="--dataset digits --num_channels 32 --num_res_blocks 1"))
    assert model.head is None
    with pytest.raises(AssertionError):
        model.classify(torch.zeros(2, 1, 16, 16), torch.zeros(2, dtype=torch.long))
