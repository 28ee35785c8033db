"""The ADM UNet (guided-diffusion's `UNetModel`) split into an encoder and a decoder, the joint model's backbone.

The joint classifier reads the encoder's activations, and classifier-guided sampling (the paper's representation
shift) moves them before the decoder runs, so the network exposes `encode(x, t) -> Encoding(h, hs, emb)` and
`decode(enc) -> eps` with `forward = decode ∘ encode`. Module names follow guided-diffusion (`time_embed`,
`input_blocks`, `middle_block`, `output_blocks`, `out`) so that state dicts can be compared with the authors'
checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from jointdiff.config import ExperimentConfig


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """[N, dim] sinusoidal embedding of raw integer timesteps t [N]: cos then sin of t·max_period^(-k/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


def zero_module(module: nn.Module) -> nn.Module:
    """Zero a module's parameters, so that a residual branch starts as the identity."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class Downsample(nn.Module):
    """3×3 convolution with stride 2: [N, C, H, W] -> [N, C, ceil(H/2), ceil(W/2)] (28 -> 14 -> 7)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class Upsample(nn.Module):
    """Nearest-neighbour ×2 then a 3×3 convolution: [N, C, H, W] -> [N, C, 2H, 2W]."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the timestep embedding injected between them.

    With scale-shift norm (FiLM), the embedding gives (scale, shift) for h ← norm(h)(1 + scale) + shift;
    otherwise it is added before the second norm. The second conv starts at zero, so the block starts as its
    skip path (identity, or a 1×1 conv when the width changes). With `down` it also halves the resolution, by
    2×2 average pooling of both paths before the first conv (guided-diffusion's `resblock_updown`, which the
    noised classifier of classic guidance uses; the joint UNet downsamples with strided convs instead).
    """

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: int | None = None,
                 use_scale_shift_norm: bool = True, down: bool = False) -> None:
        super().__init__()
        out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.down = down
        self.in_layers = nn.Sequential(nn.GroupNorm(32, channels), nn.SiLU(),
                                       nn.Conv2d(channels, out_channels, 3, padding=1))
        self.emb_layers = nn.Sequential(
            nn.SiLU(), nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm else out_channels))
        self.out_layers = nn.Sequential(nn.GroupNorm(32, out_channels), nn.SiLU(), nn.Dropout(dropout),
                                        zero_module(nn.Conv2d(out_channels, out_channels, 3, padding=1)))
        self.skip_connection = (nn.Identity() if out_channels == channels
                                else nn.Conv2d(channels, out_channels, 1))

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        """x [N, C_in, H, W], emb [N, E] -> [N, C_out, H, W] (H/2 × W/2 with `down`)."""
        if self.down:
            h = self.in_layers[-1](F.avg_pool2d(self.in_layers[:-1](x), 2))
            x = F.avg_pool2d(x, 2)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        if self.use_scale_shift_norm:
            norm, rest = self.out_layers[0], self.out_layers[1:]
            scale, shift = emb_out.chunk(2, dim=1)
            h = rest(norm(h) * (1 + scale) + shift)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all H·W positions, residual, with a zero-initialised output projection.

    The qkv channels are laid out per head as [q, k, v] (guided-diffusion's legacy order), and the softmax
    scale is 1/√(C/heads), which is what scaled_dot_product_attention computes.
    """

    def __init__(self, channels: int, num_heads: int) -> None:
        super().__init__()
        assert channels % num_heads == 0, f"{channels} channels do not split into {num_heads} heads"
        self.num_heads = num_heads
        self.norm = nn.GroupNorm(32, channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        """x [N, C, H, W] -> [N, C, H, W]."""
        n, c, *spatial = x.shape
        hw = math.prod(spatial)  # explicit sizes, not -1: an empty batch (a rank's share of a classifier step) works
        x_flat = x.reshape(n, c, hw)
        qkv = self.qkv(self.norm(x_flat)).reshape(n, self.num_heads, 3 * c // self.num_heads, hw)
        # [N, heads, HW, 3·C/heads], contiguous so that the CPU flash kernel (not the slow math path) is used
        qkv = qkv.transpose(-1, -2).contiguous()
        q, k, v = qkv.chunk(3, dim=-1)  # each [N, heads, HW, C/heads]
        attended = F.scaled_dot_product_attention(q, k, v).transpose(-1, -2).reshape(n, c, hw)
        return (x_flat + self.proj_out(attended)).reshape(n, c, *spatial)


class TimestepEmbedSequential(nn.Sequential):
    """nn.Sequential that also hands the timestep embedding to its ResBlocks."""

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


@dataclass
class Encoding:
    """What the encoder hands to the decoder (and to the joint head).

    h: [N, C_mid, H_mid, W_mid] middle-block output.
    hs: every `input_blocks` output in order, from the input conv ([N, C, H, W]) to the last level's.
    emb: [N, 4C] timestep (+ label) embedding the decoder's ResBlocks use.
    """

    h: Tensor
    hs: list[Tensor]
    emb: Tensor


class UNetModel(nn.Module):
    """The ADM UNet with ε output and fixed variance.

    :param image_size: side in pixels (8, 16, 28, 32, 64, ...: divisible by 2**(levels-1)).
    :param model_channels: base width C; level i has C·channel_mult[i] channels.
    :param attention_ds: downsample factors ds (1 = full resolution) whose levels get attention after each
        ResBlock. `build_unet` derives them as the authors did, image_size // r for each configured resolution
        r, so "16,8" means 16×16 and 8×8 at 32 px but factors {1, 3} at 28 px: attention at the full 28×28
        level only (3 never occurs). The middle block always has attention.
    :param num_classes: give the denoiser a label embedding (not the paper's model: off by default).
    """

    def __init__(self, image_size: int, in_channels: int, model_channels: int, out_channels: int,
                 num_res_blocks: int, attention_ds: Iterable[int], dropout: float = 0.0,
                 channel_mult: Sequence[int] = (1, 2, 2, 2), num_heads: int = 4, use_scale_shift_norm: bool = True,
                 num_classes: int | None = None) -> None:
        super().__init__()
        self.image_size = image_size
        self.model_channels = model_channels
        self.channel_mult = tuple(channel_mult)
        self.attention_ds = frozenset(attention_ds)
        emb_channels = 4 * model_channels
        self.time_embed = nn.Sequential(nn.Linear(model_channels, emb_channels), nn.SiLU(),
                                        nn.Linear(emb_channels, emb_channels))
        self.label_emb = nn.Embedding(num_classes, emb_channels) if num_classes else None

        def res_block(cin: int, cout: int) -> ResBlock:
            return ResBlock(cin, emb_channels, dropout, cout, use_scale_shift_norm)

        # encoder: input conv, then per level ResBlocks (+ attention) and a downsample except on the last level
        ch = model_channels * self.channel_mult[0]
        self.input_blocks = nn.ModuleList([TimestepEmbedSequential(nn.Conv2d(in_channels, ch, 3, padding=1))])
        skip_channels = [ch]
        ds = 1
        for level, mult in enumerate(self.channel_mult):
            for _ in range(num_res_blocks):
                layers: list[nn.Module] = [res_block(ch, model_channels * mult)]
                ch = model_channels * mult
                if ds in self.attention_ds:
                    layers.append(AttentionBlock(ch, num_heads))
                self.input_blocks.append(TimestepEmbedSequential(*layers))
                skip_channels.append(ch)
            if level != len(self.channel_mult) - 1:
                self.input_blocks.append(TimestepEmbedSequential(Downsample(ch)))
                skip_channels.append(ch)
                ds *= 2
        self.middle_block = TimestepEmbedSequential(res_block(ch, ch), AttentionBlock(ch, num_heads),
                                                    res_block(ch, ch))
        self.feature_channels = [*skip_channels, ch]

        # decoder: per level num_res_blocks + 1 ResBlocks on [h, skip], each consuming one encoder output
        self.output_blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(self.channel_mult))):
            for i in range(num_res_blocks + 1):
                layers = [res_block(ch + skip_channels.pop(), model_channels * mult)]
                ch = model_channels * mult
                if ds in self.attention_ds:
                    layers.append(AttentionBlock(ch, num_heads))
                if level and i == num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(TimestepEmbedSequential(*layers))
        assert not skip_channels
        self.out = nn.Sequential(nn.GroupNorm(32, ch), nn.SiLU(),
                                 zero_module(nn.Conv2d(ch, out_channels, 3, padding=1)))

    def encode(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Encoding:
        """Run the embedding, the encoder and the middle block.

        :param x: [N, C_in, H, W] noisy images x_t.
        :param t: [N] integer timesteps (raw, not rescaled).
        :param y: [N] labels for a label-conditioned denoiser; None or -1 rows get no label embedding.
        """
        emb = self.time_embed(timestep_embedding(t, self.model_channels).to(x.dtype))
        if y is not None:
            assert self.label_emb is not None, "this UNet has no label embedding"
            known = (y >= 0).to(emb.dtype)[:, None]
            emb = emb + known * self.label_emb(y.clamp(min=0))
        hs = []
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        return Encoding(self.middle_block(h, emb), hs, emb)

    def decode(self, enc: Encoding) -> Tensor:
        """Run the decoder on enc.h, consuming enc.hs from the last to the first (enc is not modified).
        Returns eps [N, C_out, H, W]."""
        h = enc.h
        for block, skip in zip(self.output_blocks, reversed(enc.hs), strict=True):
            h = block(torch.cat([h, skip], dim=1), enc.emb)
        return self.out(h)

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        """eps [N, C_out, H, W] predicted for x_t [N, C_in, H, W] at timesteps t [N]."""
        return self.decode(self.encode(x, t, y))


def attention_downsample_factors(image_size: int, resolutions: Iterable[int]) -> set[int]:
    """The authors' mapping of attention resolutions r to downsample factors: image_size // r."""
    return {image_size // r for r in resolutions}


def build_unet(cfg: ExperimentConfig) -> UNetModel:
    """The experiment's UNet (ε output, in = out = image channels)."""
    size, channels = cfg.resolved_image_size(), cfg.resolved_channels()
    return UNetModel(
        image_size=size, in_channels=channels, model_channels=cfg.num_channels, out_channels=channels,
        num_res_blocks=cfg.num_res_blocks,
        attention_ds=attention_downsample_factors(size, cfg.attention_resolution_list()),
        dropout=cfg.dropout, channel_mult=cfg.resolved_channel_mult(), num_heads=cfg.num_heads,
        use_scale_shift_norm=cfg.use_scale_shift_norm,
        num_classes=cfg.resolved_num_classes() if cfg.class_cond_denoiser else None)
