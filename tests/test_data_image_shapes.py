"""Image conversions: arrays and files resize, crop and change channels the same way."""

from __future__ import annotations

import torch
from PIL import Image

from jointdiff.data.image_shapes import convert_array, convert_channels, decode_image, resize_center_crop
from jointdiff.images import from_uint8


def test_from_uint8_maps_uint8_onto_minus_one_to_one():
    x = from_uint8(torch.tensor([0, 128, 255], dtype=torch.uint8))
    assert x.dtype == torch.float32 and x[0] == -1 and x[2] == 1 and abs(float(x[1])) < 0.01


def test_resize_keeps_aspect_and_crops_the_centre():
    images = torch.zeros(2, 1, 20, 40, dtype=torch.uint8)
    images[..., 10:30] = 255  # a bright centre band, half the width
    out = resize_center_crop(images, 10)
    assert out.shape == (2, 1, 10, 10) and out.float().mean() > 200  # the crop shows only the band


def test_grey_to_rgb_repeats_and_rgb_to_grey_uses_luma():
    grey = torch.full((1, 1, 2, 2), 100, dtype=torch.uint8)
    assert convert_channels(grey, 3).shape == (1, 3, 2, 2) and convert_channels(grey, 3).eq(100).all()
    rgb = torch.zeros(1, 3, 1, 1, dtype=torch.uint8)
    rgb[0, 0] = 255
    assert int(convert_channels(rgb, 1)) == round(0.299 * 255)


def test_files_and_arrays_agree(tmp_path):
    gen = torch.Generator().manual_seed(0)
    array = torch.randint(0, 256, (1, 3, 24, 36), dtype=torch.uint8, generator=gen)
    path = tmp_path / "x.png"
    Image.fromarray(array[0].permute(1, 2, 0).numpy()).save(path)
    from_file = decode_image(path, 12, 3)
    from_array = convert_array(array, 12, 3)[0]
    assert from_file.shape == from_array.shape == (3, 12, 12)
    assert (from_file.int() - from_array.int()).abs().float().mean() < 3
    grey_file = decode_image(path, 12, 1)
    grey_array = convert_array(array, 12, 1)[0]
    assert (grey_file.int() - grey_array.int()).abs().float().mean() < 3
