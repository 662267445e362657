"""Colour management: pixels in an embedded ICC profile → sRGB, and back.

The networks were trained on sRGB pictures, and the colour-preservation modes
compare colours numerically, so every input is converted to sRGB first:

* an embedded ICC profile (JPEG, PNG, WebP, TIFF, HEIC, AVIF) is applied with
  LittleCMS (Pillow's ``ImageCms``), **perceptual** rendering intent with black
  point compensation. For the matrix profiles that phones and cameras embed
  (Display P3, Adobe RGB) LittleCMS has no perceptual tables and uses relative
  colorimetric: colours inside sRGB come out exact, those outside are clipped
  to its gamut (saturated P3 reds and greens lose a little saturation, their
  hue is kept);
* a HEIC/AVIF file that signals its primaries with an ``nclx`` box instead of a
  profile (Display P3, BT.2020) gets a matching matrix profile built here;
* no profile: the pixels are taken as sRGB (as browsers do);
* a profile that cannot be read, or does not fit the pixels (a grey profile on
  a colour image), is an error naming the file: guessing would give wrong
  colours silently.

Outputs are tagged with the sRGB profile; ``keep_profile`` converts them back
into the input's RGB profile and embeds that one instead (a grey profile is
not kept: a stylized picture has colours).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageCms

INTENT = ImageCms.Intent.PERCEPTUAL
_FLAGS = ImageCms.Flags.BLACKPOINTCOMPENSATION
_MODE_OF_SPACE = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}

# Chromaticities (x, y) of red, green, blue and the white point.
D65 = (0.3127, 0.3290)
SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
ADOBE_PRIMARIES = ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06))
BT2020_PRIMARIES = ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046))
# sRGB's tone curve as an ICC parametric curve (type 3): γ, a, b, c, d.
SRGB_CURVE = (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045)


class ProfileError(ValueError):
    """An embedded colour profile that cannot be read or applied (the message has no file name)."""


# ---------------------------------------------------------------- building profiles


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz_tag(xyz: Sequence[float]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _curve_tag(curve: float | tuple[float, ...]) -> bytes:
    if isinstance(curve, tuple):  # parametric curve, ICC type 3 (γ, a, b, c, d)
        return b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(_s15(v) for v in curve)
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(curve * 256)) + b"\0\0"


def _desc_tag(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + b"\0" * 12 + b"\0" * 67


def _xy_to_xyz(x: float, y: float) -> tuple[float, float, float]:
    return (x / y, 1.0, (1 - x - y) / y)


def _solve3(m: list[list[float]], v: list[float]) -> list[float]:
    """Solve the 3×3 system ``m·x = v`` (Cramer's rule)."""
    def det(a: list[list[float]]) -> float:
        return (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
                + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]))
    d = det(m)
    return [det([[v[r] if c == k else m[r][c] for c in range(3)] for r in range(3)]) / d for k in range(3)]


_BRADFORD = [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
_D50_XYZ = (0.9642, 1.0, 0.8249)


def _mul(m: list[list[float]], v: list[float] | tuple[float, ...]) -> list[float]:
    return [sum(m[r][c] * v[c] for c in range(3)) for r in range(3)]


def _adapt_to_d50(xyz: list[float], white: tuple[float, float, float]) -> list[float]:
    """Bradford chromatic adaptation of one XYZ colour from ``white`` to D50 (what ICC colorants are)."""
    src, dst = _mul(_BRADFORD, white), _mul(_BRADFORD, _D50_XYZ)
    cone = [c * d / s for c, s, d in zip(_mul(_BRADFORD, xyz), src, dst)]
    inverse = [_solve3(_BRADFORD, [1.0 if r == k else 0.0 for r in range(3)]) for k in range(3)]  # columns of B⁻¹
    return [sum(inverse[k][r] * cone[k] for k in range(3)) for r in range(3)]


def _assemble(space: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """An ICC v2.1 display profile from ``(signature, data)`` tags."""
    table, body, offset = [], b"", 128 + 4 + 12 * len(tags)
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table.append(struct.pack(">4sII", sig, offset + len(body), len(data)))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I4sI4s4s4s", size, b"\0" * 4, 0x02100000, b"mntr", space, b"XYZ ") + b"\0" * 12
              + b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + b"".join(_s15(v) for v in _D50_XYZ) + b"\0" * 48)
    return header + struct.pack(">I", len(tags)) + b"".join(table) + body


def rgb_profile(
    name: str,
    primaries: tuple[tuple[float, float], ...],
    curve: float | tuple[float, ...] = SRGB_CURVE,
    white: tuple[float, float] = D65,
) -> bytes:
    """A matrix/TRC RGB ICC profile (bytes) from chromaticities and a tone curve.

    Args:
        name: the profile's description.
        primaries: ``(x, y)`` of red, green and blue.
        curve: a gamma (e.g. ``563 / 256`` for Adobe RGB) or an ICC type-3
            parametric curve (default: sRGB's).
        white: ``(x, y)`` of the white point (default D65).
    """
    w = _xy_to_xyz(*white)
    cols = [_xy_to_xyz(*p) for p in primaries]
    scale = _solve3([[cols[k][r] for k in range(3)] for r in range(3)], list(w))
    colorants = [_adapt_to_d50([c * s for c in col], w) for col, s in zip(cols, scale)]
    trc = _curve_tag(curve)
    return _assemble(b"RGB ", [
        (b"desc", _desc_tag(name)), (b"cprt", b"text\0\0\0\0" + b"No copyright\0"), (b"wtpt", _xyz_tag(_D50_XYZ)),
        (b"rXYZ", _xyz_tag(colorants[0])), (b"gXYZ", _xyz_tag(colorants[1])),
        (b"bXYZ", _xyz_tag(colorants[2])), (b"rTRC", trc), (b"gTRC", trc), (b"bTRC", trc),
    ])


def gray_profile(name: str, gamma: float = 2.2) -> bytes:
    """A grey ICC profile (bytes) with a gamma tone curve."""
    return _assemble(b"GRAY", [
        (b"desc", _desc_tag(name)), (b"cprt", b"text\0\0\0\0" + b"No copyright\0"), (b"wtpt", _xyz_tag(_D50_XYZ)),
        (b"kTRC", _curve_tag(gamma)),
    ])


# nclx colour primaries (ITU-T H.273) with a profile of their own; 1 and 2 are sRGB's/unspecified.
_NCLX_PRIMARIES = {9: ("BT.2020 (nclx)", BT2020_PRIMARIES), 12: ("Display P3 (nclx)", P3_PRIMARIES)}


def nclx_profile(primaries: int) -> bytes | None:
    """ICC profile for HEIF/AVIF ``nclx`` colour primaries (sRGB tone curve), ``None`` for sRGB or unknown ones."""
    if primaries not in _NCLX_PRIMARIES:
        return None
    name, xy = _NCLX_PRIMARIES[primaries]
    return rgb_profile(name, xy)


# ---------------------------------------------------------------- applying them


@lru_cache(maxsize=1)
def srgb_bytes() -> bytes:
    """The sRGB profile outputs are tagged with, as bytes (built here: LittleCMS's own carries the
    time it was made, so the same picture would not give the same file twice)."""
    return rgb_profile("sRGB", SRGB_PRIMARIES)


@lru_cache(maxsize=1)
def srgb_profile() -> ImageCms.ImageCmsProfile:
    """:func:`srgb_bytes` opened, the target of every input conversion."""
    return ImageCms.ImageCmsProfile(io.BytesIO(srgb_bytes()))


def open_profile(icc: bytes) -> ImageCms.ImageCmsProfile:
    """Parse ICC bytes.

    Raises:
        ProfileError: not a readable profile.
    """
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except (OSError, ImageCms.PyCMSError, TypeError, ValueError) as exc:
        raise ProfileError(f"embedded colour profile is unreadable ({str(exc).splitlines()[0][:80] or 'broken'})") from None


def describe(icc: bytes | None) -> str:
    """The profile's description (``"sRGB"`` when there is none)."""
    if not icc:
        return "sRGB (no profile)"
    try:
        return (open_profile(icc).profile.profile_description or "unnamed profile").strip()
    except ProfileError:
        return "unreadable profile"


def profile_space(icc: bytes) -> str:
    """Colour space of a profile: ``"RGB"``, ``"GRAY"``, ``"CMYK"``, …"""
    return open_profile(icc).profile.xcolor_space.strip()


def _transform(src: ImageCms.ImageCmsProfile, dst: ImageCms.ImageCmsProfile, in_mode: str, out_mode: str) -> ImageCms.ImageCmsTransform:
    try:
        return ImageCms.buildTransform(src, dst, in_mode, out_mode, renderingIntent=INTENT, flags=_FLAGS)
    except ImageCms.PyCMSError as exc:
        raise ProfileError(f"embedded colour profile cannot be applied ({str(exc).splitlines()[0][:80]})") from None


def _apply(img: Image.Image, transform: ImageCms.ImageCmsTransform) -> Image.Image:
    out = ImageCms.applyTransform(img, transform)
    assert out is not None  # not in place, so a new image
    return out


def to_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    """Convert an image in the colour space ``icc`` describes to 8-bit sRGB (mode RGB).

    ``img`` must be in the profile's mode already: ``RGB`` for an RGB profile,
    ``L`` for a grey one, ``CMYK`` for a CMYK one (the caller flattens alpha
    and palettes first).

    Raises:
        ProfileError: an unreadable profile, one that does not fit the pixels,
            or one LittleCMS cannot build a transform from.
    """
    src = open_profile(icc)
    space = src.profile.xcolor_space.strip()
    if _MODE_OF_SPACE.get(space) != img.mode:
        raise ProfileError(f"embedded colour profile is for {space} but the pixels are {img.mode}")
    return _apply(img, _transform(src, srgb_profile(), img.mode, "RGB"))


def from_srgb(img: Image.Image, icc: bytes) -> Image.Image:
    """Convert an 8-bit sRGB image into the RGB colour space ``icc`` describes (for ``keep_profile``).

    Raises:
        ProfileError: not an RGB profile, or one that cannot be applied.
    """
    dst = open_profile(icc)
    space = dst.profile.xcolor_space.strip()
    if space != "RGB":
        raise ProfileError(f"a {space} colour profile cannot hold a colour picture")
    return _apply(img.convert("RGB"), _transform(srgb_profile(), dst, "RGB", "RGB"))


@dataclass(frozen=True)
class OutputColour:
    """How an output is written: pixels converted into ``icc`` (``None``: sRGB as is) and that profile embedded."""

    icc: bytes | None = None

    def apply(self, img: Image.Image) -> tuple[Image.Image, bytes]:
        """An sRGB image → ``(pixels to write, profile to embed)``."""
        if self.icc is None:
            return img, srgb_bytes()
        return from_srgb(img, self.icc), self.icc


def output_colour(source_icc: bytes | None, keep_profile: bool) -> OutputColour:
    """The output colour of a picture made from a file with profile ``source_icc``.

    ``keep_profile`` keeps an RGB profile; a grey, CMYK or missing one gives sRGB.
    """
    if keep_profile and source_icc and profile_space(source_icc) == "RGB":
        return OutputColour(source_icc)
    return OutputColour()
