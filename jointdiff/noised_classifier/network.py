"""The noised classifier's network and its file.

guided-diffusion's `EncoderUNetModel` as the authors' `create_classifier` configures it: the encoder half of the
ADM UNet (the same ResBlocks, attention blocks and timestep embedding as `jointdiff/unet.py`) with ResBlocks that
downsample, attention with a fixed number of channels per head, and attention pooling at the end: a query token
(the spatial mean) attends over the last level's positions with learned position embeddings, CLIP-style, and its
output is projected to the logits. Channel widths per level follow the UNet's (`CHANNEL_MULT_BY_SIZE`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jointdiff.atomic import atomic_write
from jointdiff.config import CHANNEL_MULT_BY_SIZE
from jointdiff.errors import CheckpointError, ConfigError
from jointdiff.noised_classifier.settings import NoisedClassifierSettings
from jointdiff.unet import AttentionBlock, ResBlock, TimestepEmbedSequential, timestep_embedding

FILE_FORMAT = "jointdiff-noised-classifier"
FILE_VERSION = 1


class AttentionPool(nn.Module):
    """[N, C, H, W] -> [N, K]: the mean token, prepended to the H·W positions (each with a learned position
    embedding), attends over all of them with C / head_channels heads; its output is projected to K logits."""

    def __init__(self, side: int, channels: int, head_channels: int, num_outputs: int) -> None:
        super().__init__()
        self.num_heads = channels // head_channels
        self.position = nn.Parameter(torch.randn(channels, side * side + 1) / channels ** 0.5)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj = nn.Conv1d(channels, num_outputs, 1)

    def forward(self, x: Tensor) -> Tensor:
        n, c = x.shape[:2]
        tokens = x.reshape(n, c, -1)
        tokens = torch.cat([tokens.mean(dim=-1, keepdim=True), tokens], dim=-1) + self.position
        q, k, v = (part.reshape(n, self.num_heads, c // self.num_heads, -1).transpose(-1, -2)
                   for part in self.qkv(tokens).chunk(3, dim=1))  # each [N, heads, tokens, C / heads]
        attended = F.scaled_dot_product_attention(q, k, v).transpose(-1, -2).reshape(n, c, -1)
        return self.proj(attended)[:, :, 0]


class NoisedClassifier(nn.Module):
    """Logits of p(y | x_t, t) for noised images x_t [N, C, H, W] at integer timesteps t [N]."""

    def __init__(self, image_size: int, in_channels: int, num_classes: int,
                 settings: NoisedClassifierSettings) -> None:
        super().__init__()
        if image_size not in CHANNEL_MULT_BY_SIZE:
            raise ConfigError(f"noised classifier: no channel widths for {image_size} px images (known: "
                              f"{sorted(CHANNEL_MULT_BY_SIZE)})")
        width, heads_of = settings.width, lambda ch: ch // settings.head_channels
        attention_ds = {image_size // r for r in settings.attention_resolution_list()}
        emb_channels = 4 * width
        self.model_channels = width
        self.time_embed = nn.Sequential(nn.Linear(width, emb_channels), nn.SiLU(),
                                        nn.Linear(emb_channels, emb_channels))

        def res_block(cin: int, cout: int, down: bool = False) -> ResBlock:
            return ResBlock(cin, emb_channels, 0.0, cout, use_scale_shift_norm=True, down=down)

        mult = CHANNEL_MULT_BY_SIZE[image_size]
        ch = width * mult[0]
        blocks = [TimestepEmbedSequential(nn.Conv2d(in_channels, ch, 3, padding=1))]
        ds = 1
        for level, m in enumerate(mult):
            for _ in range(settings.depth):
                layers: list[nn.Module] = [res_block(ch, width * m)]
                ch = width * m
                if ds in attention_ds:
                    layers.append(AttentionBlock(ch, heads_of(ch)))
                blocks.append(TimestepEmbedSequential(*layers))
            if level != len(mult) - 1:
                blocks.append(TimestepEmbedSequential(res_block(ch, ch, down=True)))
                ds *= 2
        self.input_blocks = nn.ModuleList(blocks)
        self.middle_block = TimestepEmbedSequential(res_block(ch, ch), AttentionBlock(ch, heads_of(ch)),
                                                    res_block(ch, ch))
        side = image_size
        for _ in range(len(mult) - 1):
            side //= 2  # average pooling floors odd sides (28 -> 14 -> 7)
        self.out = nn.Sequential(nn.GroupNorm(32, ch), nn.SiLU(),
                                 AttentionPool(side, ch, settings.head_channels, num_classes))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        emb = self.time_embed(timestep_embedding(t, self.model_channels).to(x.dtype))
        h = x
        for block in self.input_blocks:
            h = block(h, emb)
        return self.out(self.middle_block(h, emb))


def build_noised_classifier(info: dict[str, Any]) -> NoisedClassifier:
    """The network described by a file's `info` (image_size, channels, num_classes, settings)."""
    settings = NoisedClassifierSettings(**info["settings"])
    return NoisedClassifier(info["image_size"], info["channels"], info["num_classes"], settings)


def save_noised_classifier(model: NoisedClassifier, info: dict[str, Any], path: str | Path) -> Path:
    """Write the weights with `info`: what it classifies (dataset, image_size, channels, num_classes), the
    diffusion it was trained on (diffusion_steps, noise_schedule), its settings, step and test accuracy."""
    payload = {"format": FILE_FORMAT, "version": FILE_VERSION, "info": info, "state_dict": model.state_dict()}
    return atomic_write(path, lambda f: torch.save(payload, f))


def load_noised_classifier(path: str | Path, device: torch.device | str = "cpu"
                           ) -> tuple[NoisedClassifier, dict[str, Any]]:
    """(the network in eval mode with gradients off, its info) from a file of `save_noised_classifier`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"noised classifier {path} does not exist (train it with `jointdiff "
                              f"noised-classifier ... --out {path}`)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable file is the user's to fix
        raise CheckpointError(f"{path}: not a readable noised classifier ({type(err).__name__}: {err})") from err
    if not isinstance(payload, dict) or payload.get("format") != FILE_FORMAT:
        raise CheckpointError(f"{path}: not a {FILE_FORMAT} file (from `jointdiff noised-classifier`)")
    model = build_noised_classifier(payload["info"])
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval().requires_grad_(False), payload["info"]
