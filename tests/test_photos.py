"""Photos as people have them: colour profiles, HEIC/AVIF, EXIF kept, provenance, style files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adain.io import photo, profiles, provenance, stylefile
from adain.io.images import to_rgb
from helpers import GRAY, P3, camera_photo, heic_bytes

ADOBE = profiles.rgb_profile("Adobe RGB (1998)", profiles.ADOBE_PRIMARIES, 563 / 256)
# Linear-light P3 → linear sRGB (both D65), from the primaries: an independent check of LittleCMS's result.
P3_TO_SRGB = np.array([[1.2249, -0.2247, 0.0], [-0.0420, 1.0419, 0.0], [-0.0197, -0.0786, 1.0979]])
ADOBE_TO_SRGB = np.array([[1.3982, -0.3982, 0.0], [0.0, 1.0, 0.0], [0.0, -0.0429, 1.0429]])


def srgb_decode(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64) / 255
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0, 1)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1 / 2.4) - 0.055) * 255


def solid(colour: tuple[int, ...], mode: str = "RGB") -> Image.Image:
    return Image.new(mode, (4, 4), colour)


# ---------------------------------------------------------------- profiles


def test_display_p3_pixels_become_their_srgb_colour():
    px = np.array([200, 120, 80])
    out = np.asarray(profiles.to_srgb(solid(tuple(px)), P3))[0, 0]
    expected = srgb_encode(P3_TO_SRGB @ srgb_decode(px))
    assert np.abs(out - expected).max() <= 1.0
    assert out[0] > px[0] + 8  # P3's red is redder than sRGB's: read as sRGB the photo looks duller


def test_adobe_rgb_pixels_become_their_srgb_colour():
    px = np.array([90, 160, 200])
    adobe_lin = (px / 255.0) ** (563 / 256)
    out = np.asarray(profiles.to_srgb(solid(tuple(px)), ADOBE))[0, 0]
    assert np.abs(out - srgb_encode(ADOBE_TO_SRGB @ adobe_lin)).max() <= 1.5


def test_grey_profile_applies_to_grey_pixels():
    out = np.asarray(photo.managed_rgb(solid(128, "L"), GRAY, to_rgb))[0, 0]
    expected = srgb_encode(np.full(3, (128 / 255) ** 2.2))
    assert np.abs(out - expected).max() <= 1.0 and out[0] == out[1] == out[2]


def test_colours_outside_srgb_are_clipped_with_their_hue():
    out = np.asarray(profiles.to_srgb(solid((255, 0, 0)), P3))[0, 0]
    assert tuple(out) == (255, 0, 0)


def test_keep_profile_round_trip():
    img = Image.fromarray(np.random.default_rng(0).integers(30, 220, (8, 8, 3), dtype=np.uint8))
    back = profiles.to_srgb(profiles.from_srgb(img, P3), P3)  # every sRGB colour is inside P3
    assert np.abs(np.asarray(back, dtype=int) - np.asarray(img, dtype=int)).max() <= 1


def test_output_colour_keeps_only_rgb_profiles():
    assert profiles.output_colour(P3, keep_profile=True).icc == P3
    assert profiles.output_colour(P3, keep_profile=False).icc is None
    assert profiles.output_colour(GRAY, keep_profile=True).icc is None
    _, icc = profiles.output_colour(None, keep_profile=True).apply(solid((1, 2, 3)))
    assert icc == profiles.srgb_bytes() and profiles.describe(icc) == "sRGB"
    assert profiles.srgb_bytes() == profiles.rgb_profile("sRGB", profiles.SRGB_PRIMARIES)  # no time stamp: same file twice


@pytest.mark.parametrize("icc", [b"not a profile at all", P3[:60], P3[:200] + b"\xff" * 40])
def test_broken_profile_is_one_line(icc):
    with pytest.raises(profiles.ProfileError) as err:
        photo.managed_rgb(solid((1, 2, 3)), icc, to_rgb)
    assert "\n" not in str(err.value) and "profile" in str(err.value)


def test_profile_that_does_not_fit_the_pixels():
    with pytest.raises(profiles.ProfileError, match="GRAY but the pixels are RGB"):
        photo.managed_rgb(solid((1, 2, 3)), GRAY, to_rgb)
    grey_in_p3 = np.asarray(photo.managed_rgb(solid(100, "L"), P3, to_rgb))[0, 0]
    assert grey_in_p3[0] == grey_in_p3[1] == grey_in_p3[2]  # grey is neutral in any RGB space


def test_nclx_primaries():
    assert profiles.nclx_profile(1) is None and profiles.nclx_profile(2) is None
    assert profiles.describe(profiles.nclx_profile(12)).startswith("Display P3")
    img = solid((10, 20, 30))
    img.info["nclx_profile"] = {"color_primaries": 12, "transfer_characteristics": 13}
    assert photo.source_icc(img) == profiles.nclx_profile(12)


# ---------------------------------------------------------------- HEIF


def test_heif_and_avif_are_told_apart():
    heic = heic_bytes(solid((1, 2, 3)))
    buf = io.BytesIO()
    solid((1, 2, 3)).save(buf, format="AVIF")
    assert photo.is_heif(heic[:64]) and not photo.is_heif(buf.getvalue()[:64])
    assert not photo.is_heif(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)


def test_heic_orientation_and_profile_are_applied():
    img = Image.new("RGB", (32, 16), (200, 120, 80))
    exif = Image.Exif()
    exif[photo.ORIENTATION] = 6
    decoded = Image.open(io.BytesIO(heic_bytes(img, exif=exif.tobytes(), icc_profile=P3)))
    assert decoded.size == (16, 32)  # rotated upright
    assert profiles.describe(photo.source_icc(decoded)) == "Display P3"


# ---------------------------------------------------------------- EXIF


def test_exif_keeps_camera_and_date_drops_gps_and_resets_orientation():
    exif = photo.output_exif(camera_photo(), software="adain 9")
    assert exif[0x010F] == "Canon" and exif[0x0110] == "EOS R5" and exif[photo.SOFTWARE] == "adain 9"
    assert exif[photo.ORIENTATION] == 1
    assert exif.get_ifd(photo.EXIF_IFD)[0x9003] == "2024:05:06 07:08:09"
    assert 0xA002 not in exif.get_ifd(photo.EXIF_IFD)  # the original's width is not the output's
    assert photo.GPS_IFD not in exif
    assert photo.output_exif(camera_photo(), keep_gps=True).get_ifd(photo.GPS_IFD)[2] == (48.0, 51.0, 24.0)


def test_exif_too_large_for_jpeg_loses_the_maker_notes_first():
    exif = photo.output_exif(camera_photo(maker_note=80_000))
    data = photo.fit_exif(exif, photo.JPEG_EXIF_LIMIT)
    kept = Image.Exif()
    kept.load(data)
    assert len(data) <= photo.JPEG_EXIF_LIMIT and kept[0x0110] == "EOS R5"
    assert photo.MAKER_NOTE not in kept.get_ifd(photo.EXIF_IFD)
    assert kept.get_ifd(photo.EXIF_IFD)[0x9003] == "2024:05:06 07:08:09"
    huge = photo.output_exif(camera_photo())
    huge[0x010E] = "x" * 70_000  # an image description over the limit on its own
    small = Image.Exif()
    small.load(photo.fit_exif(huge, photo.JPEG_EXIF_LIMIT))
    assert 0x010E not in small and small[0x010F] == "Canon"


# ---------------------------------------------------------------- provenance


RECORD = {"software": "adain 0.1.0", "alpha": 0.8, "styles": [{"name": "wave <1>.jpg", "sha256": "ab" * 32}]}


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "AVIF"])
def test_record_survives_the_format(fmt):
    buf = io.BytesIO()
    solid((1, 2, 3)).save(buf, format=fmt, **provenance.save_options(fmt, RECORD, b"", profiles.srgb_bytes()))
    back = Image.open(io.BytesIO(buf.getvalue()))
    assert provenance.read_record(back) == RECORD
    assert back.info.get("icc_profile") == profiles.srgb_bytes()


@pytest.mark.parametrize("frames", [1, 3])
def test_record_added_to_gif_and_webp_files(frames):
    """What the video writer does to FFmpeg's GIF and WebP files: the pictures stay the same, the record is read back."""
    images = [solid((40 * k, 2, 3)) for k in range(frames)]
    for fmt, add in (("GIF", lambda d: provenance.gif_with_comment(d, provenance.record_text(RECORD, ascii=True))),
                     ("WEBP", lambda d: provenance.webp_with_xmp(d, provenance.to_xmp(RECORD), images[0].size))):
        buf = io.BytesIO()
        images[0].save(buf, format=fmt, save_all=True, append_images=images[1:], loop=0, duration=100, lossless=True)
        back = Image.open(io.BytesIO(add(buf.getvalue())))
        assert provenance.read_record(back) == RECORD, fmt
        assert back.n_frames == frames and back.size == images[0].size and (frames == 1 or back.info["loop"] == 0)
        for k in range(frames):
            back.seek(k)
            assert back.convert("RGB").getpixel((0, 0)) == images[k].getpixel((0, 0)), (fmt, k)


def test_record_too_large_for_jpeg():
    with pytest.raises(ValueError, match="over JPEG"):
        provenance.save_options("JPEG", {"styles": ["x" * 70_000]}, b"", None)
    assert "pnginfo" in provenance.save_options("PNG", {"styles": ["x" * 70_000]}, b"", None)


def test_no_record_in_a_plain_picture():
    assert provenance.read_record(solid((1, 2, 3))) is None
    assert provenance.from_xmp(b"<x:xmpmeta><broken") is None


# ---------------------------------------------------------------- style files


def tiny_style(tiny_encoder, seed: int = 0, name: str = "s.jpg") -> stylefile.StyleFile:
    means = {t: torch.rand(c, generator=torch.Generator().manual_seed(seed)) for t, c in stylefile.CHANNELS.items()}
    stds = {t: m + 0.5 for t, m in means.items()}
    sources = [{"name": name, "sha256": "0" * 64, "weight": 1.0}]
    return stylefile.StyleFile("s", "s.safetensors", means, stds, sources, stylefile.encoder_identity(tiny_encoder), 512)


def test_style_file_round_trip_and_size(tiny_encoder, tmp_path):
    style = tiny_style(tiny_encoder)
    path = stylefile.save_style(style, tmp_path / "wave.safetensors")
    assert path.stat().st_size < 10_000
    back = stylefile.read_style(path)
    assert back.name == "wave" and back.label == str(path) and back.sources == style.sources and back.style_size == 512
    assert all(torch.equal(back.means[t], style.means[t]) and torch.equal(back.stds[t], style.stds[t]) for t in stylefile.CHANNELS)
    assert back.for_encoder(tiny_encoder).mean.shape == (1, 512, 1, 1)


def test_style_file_from_another_encoder_is_refused(tiny_encoder, tmp_path):
    from adain.encoder import Encoder

    path = stylefile.save_style(tiny_style(tiny_encoder), tmp_path / "wave.safetensors")
    torch.manual_seed(1)
    other = Encoder(weights="random")
    with pytest.raises(stylefile.StyleFileError, match="made with another encoder") as err:
        stylefile.read_style(path).for_encoder(other)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("data, why", [
    (b"\x10\0\0\0\0\0\0\0{not json}xxxxxx", "not a style file"),
    (b"hello", "not a style file"),
])
def test_bad_style_files(tmp_path, data, why):
    (tmp_path / "bad.safetensors").write_bytes(data)
    with pytest.raises(stylefile.StyleFileError, match=why):
        stylefile.read_style(tmp_path / "bad.safetensors")


def test_decoder_weights_are_not_a_style_file(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(tmp_path / "decoder.safetensors"), metadata={"steps": "3"})
    with pytest.raises(stylefile.StyleFileError, match="not a style file"):
        stylefile.read_style(tmp_path / "decoder.safetensors")


def test_damaged_statistics_are_refused(tiny_encoder, tmp_path):
    style = tiny_style(tiny_encoder)
    style.stds["relu2_1"][3] = float("nan")
    path = stylefile.save_style(style, tmp_path / "nan.safetensors")
    with pytest.raises(stylefile.StyleFileError, match="relu2_1"):
        stylefile.read_style(path)


def test_mix_is_the_weighted_interpolation(tiny_encoder):
    a, b = tiny_style(tiny_encoder, 0, "a.jpg"), tiny_style(tiny_encoder, 1, "b.jpg")
    m = stylefile.mix([a, b], [3, 1], "ab")
    assert torch.allclose(m.means["relu4_1"], 0.75 * a.means["relu4_1"] + 0.25 * b.means["relu4_1"])
    assert [s["weight"] for s in m.sources] == [0.75, 0.25]


def test_computed_statistics_equal_the_stylizers(tiny_encoder):
    from adain.decoder import Decoder
    from adain.stylizer import Stylizer

    st = Stylizer(Decoder(width=0.0625), encoder=tiny_encoder, device="cpu", bf16=False)
    image = torch.rand(3, 40, 56, generator=torch.Generator().manual_seed(0))
    style = stylefile.compute_style(st, image, {"name": "p.png", "sha256": "1" * 64}, 0)
    ref = st.style_stats([image])
    assert torch.equal(style.stats().mean, ref.mean) and torch.equal(style.stats().std, ref.std)
    assert style.sources[0]["name"] == "p.png" and style.encoder == stylefile.encoder_identity(tiny_encoder)


def test_bundled_bank_matches_the_examples_and_the_encoder():
    from adain.apps.files import StylizeOptions, load_style
    from adain.encoder import Encoder
    from adain.stylizer import Stylizer

    bank = stylefile.bundled_styles()
    examples = Path(stylefile.__file__).parents[1] / "examples" / "style"
    assert sorted(bank) == sorted(p.stem for p in examples.glob("*.jpg"))
    stylizer = Stylizer(device="cpu", bf16=False, encoder=Encoder())
    stats = stylefile.read_style(bank["hokusai"]).for_encoder(stylizer.encoder)  # made by this encoder
    style = stylefile.read_style(bank["hokusai"])
    assert style.sources[0]["sha256"] == provenance.file_sha256(examples / "hokusai.jpg")
    ref = stylizer.style_stats([load_style(examples / "hokusai.jpg", StylizeOptions(style_size=style.style_size))])
    assert torch.allclose(stats.mean, ref.mean, atol=1e-4) and torch.allclose(stats.std, ref.std, atol=1e-4)
    assert sum(p.stat().st_size for p in bank.values()) < 40_000
