"""Every kind of image file loads upright, in RGB, with transparency on white."""

import numpy as np
import pytest
import torch
from PIL import Image

from nst.errors import NSTError
from nst.images import downsample, load_image, read_image, resize_longest, save_image, to_tensor


def _exif_rotated_jpeg(path):
    image = Image.new("RGB", (40, 20), "white")
    image.paste((255, 0, 0), (0, 0, 10, 20))  # red band on the left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    image.save(path, exif=exif)


def _rgba(path):
    image = Image.new("RGBA", (16, 16), (255, 0, 0, 0))  # fully transparent red
    image.paste((0, 0, 255, 255), (0, 0, 8, 16))  # opaque blue on the left half
    image.save(path)


def _palette_transparent(path):
    image = Image.new("P", (16, 16), 0)
    image.putpalette([0, 255, 0] + [0, 0, 0] * 255)
    image.paste(1, (0, 0, 8, 16))
    image.info["transparency"] = 0  # index 0 (green) is transparent
    image.save(path, transparency=0)


def _sixteen_bit(path):
    array = np.full((16, 16), 65535, dtype=np.uint16)
    array[:, :8] = 0
    Image.fromarray(array).save(path)


KINDS = {
    # name: (writer or (mode, format), expected size (w, h), pixel probes {(x, y): rgb})
    "exif-rotated jpeg": (_exif_rotated_jpeg, "photo.jpg", (20, 40), {(10, 2): (255, 0, 0)}),
    "greyscale png": (
        lambda p: Image.new("L", (16, 12), 128).save(p),
        "grey.png",
        (16, 12),
        {(3, 3): (128,) * 3},
    ),
    "greyscale+alpha png": (
        lambda p: Image.new("LA", (16, 12), (0, 0)).save(p),
        "la.png",
        (16, 12),
        {(3, 3): (255,) * 3},
    ),
    "rgba png": (_rgba, "rgba.png", (16, 16), {(2, 2): (0, 0, 255), (12, 2): (255, 255, 255)}),
    "palette png with transparency": (
        _palette_transparent,
        "pal.png",
        (16, 16),
        {(2, 2): (0, 0, 0), (12, 2): (255, 255, 255)},
    ),
    "16-bit png": (_sixteen_bit, "deep.png", (16, 16), {(2, 2): (0, 0, 0), (12, 2): (255, 255, 255)}),
    "cmyk jpeg": (
        lambda p: Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(p, quality=100),
        "cmyk.jpg",
        (16, 16),
        {(8, 8): (255, 0, 0)},
    ),
    "webp": (
        lambda p: Image.new("RGB", (16, 16), (0, 200, 0)).save(p, lossless=True),
        "img.webp",
        (16, 16),
        {(8, 8): (0, 200, 0)},
    ),
    "bmp": (
        lambda p: Image.new("RGB", (16, 16), (10, 20, 30)).save(p),
        "img.bmp",
        (16, 16),
        {(8, 8): (10, 20, 30)},
    ),
}


@pytest.mark.parametrize("kind", KINDS)
def test_image_kind_loads_as_upright_rgb(kind, tmp_path):
    writer, name, size, probes = KINDS[kind]
    path = tmp_path / name
    writer(path)
    image = read_image(path)
    assert image.mode == "RGB" and image.size == size
    for (x, y), rgb in probes.items():
        pixel = image.getpixel((x, y))
        assert all(abs(a - b) <= 12 for a, b in zip(pixel, rgb)), (kind, (x, y), pixel, rgb)


def test_huge_image_is_refused_from_its_header_without_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("L", (4000, 4000)).save(path, optimize=True)  # 16 Mpx that compress to a few kB
    assert path.stat().st_size < 100_000
    with pytest.raises(NSTError, match="above max_input_pixels=1,000,000"):
        read_image(path, max_pixels=1_000_000)


def test_large_jpeg_decodes_at_reduced_scale_when_size_asks_for_less(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (2048, 1536), (90, 120, 150)).save(path)
    image = read_image(path, size=256)
    assert 256 <= max(image.size) <= 512  # decoded at 1/4 or 1/8 scale, never below the size asked
    assert max(load_image(path, 256).shape[-2:]) == 256


def test_resize_keeps_aspect_ratio():
    image = resize_longest(Image.new("RGB", (300, 100)), 96)
    assert image.size == (96, 32)


def test_save_is_atomic_and_round_trips(tmp_path):
    tensor = to_tensor(Image.new("RGB", (8, 6), (10, 200, 30)))
    path = save_image(tensor, tmp_path / "out.png")
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary file left behind
    assert to_tensor(Image.open(path)).allclose(tensor)


@pytest.mark.parametrize("payload", [b"", b"GIF89a" + b"\x00" * 10, b"%PDF-1.4"])
def test_garbage_is_not_an_image(tmp_path, payload):
    path = tmp_path / "x.png"
    path.write_bytes(payload)
    with pytest.raises(NSTError):
        read_image(path)


def test_the_style_follows_the_scale_but_is_never_enlarged_past_its_own_size(tmp_path):
    from conftest import plan
    from nst.images import Sources

    rng = np.random.default_rng(0)
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    Image.fromarray(rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(small)  # native edge 120
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(large)  # native edge 400
    for style, expected in ((small, {96: 96, 192: 120}), (large, {96: 96, 192: 192})):
        sources = Sources(
            plan("backbone=random", f"style={style}", "size=192", "scales=[96]", out_dir=tmp_path)
        )
        for size, edge in expected.items():
            _, (tensor,) = sources.at(size)
            assert max(tensor.shape[-2:]) == edge, (style.name, size, tensor.shape)


@pytest.mark.parametrize(
    "source, target", [((512, 384), (256, 192)), ((1024, 683), (256, 171)), ((100, 77), (64, 49))]
)
def test_the_differentiable_downsample_is_pillows_lanczos(source, target):
    """refine_anchor scores a large result as Pillow (and the look evaluation) shows it small."""
    array = np.random.default_rng(0).random(source).astype(np.float32)
    pillow = np.asarray(Image.fromarray(array, mode="F").resize(target[::-1], Image.Resampling.LANCZOS))
    ours = downsample(torch.from_numpy(array)[None, None], target)[0, 0].numpy()
    assert np.abs(ours - pillow).max() < 1e-5  # measured 2.4e-7
