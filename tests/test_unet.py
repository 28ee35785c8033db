"""The ADM UNet: size from its layer list, shapes for every supported image size, encode/decode, attention."""

import math

import pytest
import torch

from jointdiff.config import load_config
from jointdiff.unet import (AttentionBlock, UNetModel, attention_downsample_factors, build_unet,
                            timestep_embedding)

torch.set_num_threads(1)  # tiny models on a shared 2-core CPU: extra threads cost more than they save


# --- parameter counts of single layers ----------------------------------------------------------------
def conv(cin, cout, k=3):
    return cin * cout * k * k + cout


def linear(cin, cout):
    return cin * cout + cout


def norm(c):
    return 2 * c


def res(cin, cout, emb):  # scale-shift ResBlock: norm, conv, emb linear (2·cout), norm, conv, skip
    return norm(cin) + conv(cin, cout) + linear(emb, 2 * cout) + norm(cout) + conv(cout, cout) + (
        0 if cin == cout else conv(cin, cout, 1))


def attn(c):  # norm, qkv 1x1, proj 1x1
    return norm(c) + conv(c, 3 * c, 1) + conv(c, c, 1)


def test_parameter_count_of_the_papers_32px_unet():
    """C = 128, 3 ResBlocks, channel_mult (1,2,2,2), attention at 16×16 and 8×8, 4 heads, 3 channels."""
    C, E = 128, 512
    expected = (
        linear(C, E) + linear(E, E)                                   # time embedding
        + conv(3, C)                                                  # input conv          32x32
        + 3 * res(C, C, E) + conv(C, C)                               # level 0 + downsample 32x32
        + res(C, 2 * C, E) + 2 * res(2 * C, 2 * C, E) + 3 * attn(2 * C) + conv(2 * C, 2 * C)  # level 1 16x16
        + 3 * (res(2 * C, 2 * C, E) + attn(2 * C)) + conv(2 * C, 2 * C)  # level 2  8x8
        + 3 * res(2 * C, 2 * C, E)                                    # level 3              4x4
        + 2 * res(2 * C, 2 * C, E) + attn(2 * C)                      # middle               4x4
        + 4 * res(4 * C, 2 * C, E) + conv(2 * C, 2 * C)               # decoder level 3 + upsample
        + 4 * (res(4 * C, 2 * C, E) + attn(2 * C)) + conv(2 * C, 2 * C)  # decoder level 2 + upsample
        + 3 * (res(4 * C, 2 * C, E) + attn(2 * C)) + res(3 * C, 2 * C, E) + attn(2 * C)
        + conv(2 * C, 2 * C)                                          # decoder level 1 + upsample
        + res(3 * C, C, E) + 3 * res(2 * C, C, E)                     # decoder level 0
        + norm(C) + conv(C, 3)                                        # output
    )
    cfg = load_config(flags="--dataset CIFAR10 --num_channels 128 --num_res_blocks 3 --attention_resolutions 16,8 "
                            "--num_heads 4 --learn_sigma False --dropout 0.3")
    unet = build_unet(cfg)
    assert sum(p.numel() for p in unet.parameters()) == expected
    assert unet.feature_channels == [C] * 5 + [2 * C] * 12
    assert sum(unet.feature_channels) == 29 * C


@pytest.mark.parametrize("size,channels,mult", [(8, 1, (1, 2)), (16, 1, (1, 2, 2)), (28, 1, (1, 2, 2)),
                                                 (32, 3, (1, 2, 2, 2)), (64, 3, (1, 2, 3, 4))])
def test_shapes_and_encoder_taps(size, channels, mult):
    torch.manual_seed(0)
    unet = UNetModel(size, channels, 32, channels, 1, attention_ds={2}, channel_mult=mult, num_heads=2)
    x, t = torch.randn(2, channels, size, size), torch.tensor([0, 999])
    enc = unet.encode(x, t)
    levels = len(mult)
    assert len(enc.hs) == 1 + levels * 1 + (levels - 1)
    assert [a.shape[1] for a in enc.hs] + [enc.h.shape[1]] == unet.feature_channels
    assert enc.h.shape[-1] == math.ceil(size / 2 ** (levels - 1))
    assert enc.emb.shape == (2, 128)
    eps = unet.decode(enc)
    assert eps.shape == x.shape
    assert eps.abs().max() == 0  # zero-initialised output conv


def break_zero_init(unet):
    """Random weights where ADM starts at zero (output conv, residual branches), so every input matters."""
    for m in unet.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)) and m.weight.abs().max() == 0:
            torch.nn.init.normal_(m.weight, std=0.05)


def test_forward_is_decode_of_encode_and_decode_keeps_the_encoding():
    torch.manual_seed(0)
    unet = UNetModel(8, 1, 32, 1, 1, attention_ds={1}, channel_mult=(1, 2)).eval()
    break_zero_init(unet)
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([1, 10, 100])
    enc = unet.encode(x, t)
    n_hs = len(enc.hs)
    eps = unet.decode(enc)
    assert len(enc.hs) == n_hs
    torch.testing.assert_close(unet(x, t), eps)
    torch.testing.assert_close(unet.decode(enc), eps)


def attention_input_sizes(unet, x, t):
    sizes = {"encoder": [], "middle": [], "decoder": []}
    hooks = []
    parts = (("encoder", unet.input_blocks), ("middle", unet.middle_block), ("decoder", unet.output_blocks))
    for part, module in parts:
        for m in module.modules():
            if isinstance(m, AttentionBlock):
                hooks.append(m.register_forward_hook(lambda mod, inp, out, p=part: sizes[p].append(inp[0].shape[-1])))
    unet(x, t)
    for h in hooks:
        h.remove()
    return sizes


def test_fashion_mnist_28px_puts_attention_at_28x28_only():
    cfg = load_config(flags="--dataset FashionMNIST --num_channels 32 --num_res_blocks 1 --attention_resolutions 16,8")
    assert attention_downsample_factors(28, [16, 8]) == {1, 3}
    unet = build_unet(cfg)
    sizes = attention_input_sizes(unet, torch.randn(1, 1, 28, 28), torch.tensor([3]))
    assert sizes["encoder"] == [28] and sizes["decoder"] == [28, 28] and sizes["middle"] == [7]


def test_cifar_32px_puts_attention_at_16_and_8():
    cfg = load_config(flags="--dataset CIFAR10 --num_channels 32 --num_res_blocks 1 --attention_resolutions 16,8")
    sizes = attention_input_sizes(build_unet(cfg), torch.randn(1, 3, 32, 32), torch.tensor([3]))
    assert sizes["encoder"] == [16, 8] and sorted(sizes["decoder"]) == [8, 8, 16, 16] and sizes["middle"] == [4]


def test_attention_is_guided_diffusions_legacy_qkv_attention():
    torch.manual_seed(0)
    block = AttentionBlock(64, num_heads=4)
    torch.nn.init.normal_(block.proj_out.weight)
    x = torch.randn(2, 64, 5, 5)
    # guided-diffusion's QKVAttentionLegacy: heads split first, then q, k, v; scale 1/sqrt(sqrt(ch)) on both
    flat = x.reshape(2, 64, 25)
    qkv = block.qkv(block.norm(flat)).reshape(2 * 4, 3 * 16, 25)
    q, k, v = qkv.split(16, dim=1)
    scale = 1 / math.sqrt(math.sqrt(16))
    weight = torch.softmax(torch.einsum("bct,bcs->bts", q * scale, k * scale), dim=-1)
    a = torch.einsum("bts,bcs->bct", weight, v).reshape(2, 64, 25)
    expected = (flat + block.proj_out(a)).reshape(2, 64, 5, 5)
    torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)


def test_timestep_embedding_uses_raw_integer_t():
    emb = timestep_embedding(torch.tensor([0, 7]), 8)
    torch.testing.assert_close(emb[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    freqs = torch.exp(-math.log(10000) * torch.arange(4) / 4)
    torch.testing.assert_close(emb[1], torch.cat([torch.cos(7 * freqs), torch.sin(7 * freqs)]))


def test_label_conditioned_denoiser_is_optional():
    cfg = load_config(flags="--dataset digits --num_channels 32 --num_res_blocks 1")
    assert build_unet(cfg).label_emb is None
    torch.manual_seed(0)
    unet = build_unet(load_config(flags="--dataset digits --num_channels 32 --num_res_blocks 1 "
                                        "--class_cond_denoiser True")).eval()
    break_zero_init(unet)
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([5, 5])
    unconditional = unet(x, t)
    torch.testing.assert_close(unet(x, t, torch.tensor([-1, -1])), unconditional)
    assert (unet(x, t, torch.tensor([3, 4])) - unconditional).abs().max() > 1e-4
