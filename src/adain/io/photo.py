"""Photos as phones and cameras write them: HEIC/AVIF, colour profiles, EXIF.

* HEIC/HEIF is read through the optional ``pillow-heif`` package (``pip install
  'adain[heif]'``); AVIF through Pillow itself. Without the extra, a HEIC file
  gets a one-line error naming it.
* :func:`managed_rgb` turns a decoded picture into 8-bit sRGB, honouring its
  embedded colour profile (see :mod:`adain.io.profiles`).
* :func:`output_exif` keeps the photo's EXIF (camera, lens, exposure, dates) for
  the output: the orientation is reset (the pixels are upright), the GPS
  position is dropped unless asked for (privacy), the sizes of the original
  and its thumbnail are not carried over, and the result fits the format's
  limit (JPEG: 64 KB; the maker notes go first).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import PIL
from PIL import Image

from adain.io import profiles

HEIF_EXTRA = "heif"
# ISO base media brands: HEIF images (HEVC and generic) and AVIF (which Pillow reads itself).
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
AVIF_BRANDS = {b"avif", b"avis"}

ORIENTATION = 0x0112
SOFTWARE = 0x0131
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
MAKER_NOTE = 0x927C
# Tags that describe the original file's pixels, not the output's: pixel sizes, the thumbnail.
STALE_TAGS = (0x0100, 0x0101, 0x0201, 0x0202, 0xA002, 0xA003)
# Kept when a format's limit leaves room for nothing else: make, model, date and time, date taken.
ESSENTIAL_TAGS = (0x010F, 0x0110, 0x0132)
ESSENTIAL_EXIF_TAGS = (0x9003, 0x9004, 0x9010, 0x9011)
JPEG_EXIF_LIMIT = 65533 - 8  # one APP1 segment, less "Exif\0\0" and the marker length


def iso_brands(head: bytes) -> set[bytes]:
    """Major and compatible brands of an ISO base media file (HEIF, AVIF, MP4) from its first bytes."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return set()
    size = int.from_bytes(head[:4], "big")
    box = head[8 : min(size, len(head))]
    return {box[0:4]} | {box[i : i + 4] for i in range(8, len(box) - 3, 4)}


def is_heif(head: bytes) -> bool:
    """Whether the first bytes of a file are a HEIF image that is not AVIF (so needs ``pillow-heif``)."""
    brands = iso_brands(head)
    return bool(brands & HEIF_BRANDS) and not brands & AVIF_BRANDS


def container_family(head: bytes) -> str | None:
    """``"HEIC/HEIF"`` or ``"AVIF"`` when a file's first bytes are such an image (an ISO base media file of
    their brands), else ``None``: what a failure to decode it is called."""
    brands = iso_brands(head)
    if brands & AVIF_BRANDS:
        return "AVIF"
    return "HEIC/HEIF" if brands & HEIF_BRANDS else None


@lru_cache(maxsize=1)
def register_heif() -> bool:
    """Teach Pillow to open HEIC/HEIF (once); ``False`` when ``pillow-heif`` is not installed."""
    if importlib.util.find_spec("pillow_heif") is None:
        return False
    import pillow_heif

    pillow_heif.register_heif_opener()
    return True


def heif_missing_message() -> str:
    """What to say about a HEIC file when ``pillow-heif`` is missing (prefixed by the file name)."""
    return f"HEIC/HEIF image: reading it needs the optional extra, pip install 'adain[{HEIF_EXTRA}]'"


def decoder_name(img: Image.Image) -> str:
    """The format and the library that decoded it, e.g. ``"JPEG (Pillow 13.0.0)"``."""
    fmt = img.format or "unknown"
    if fmt == "HEIF":
        import pillow_heif  # the plugin that decoded it

        return f"{fmt} (pillow-heif {pillow_heif.__version__})"
    return f"{fmt} (Pillow {PIL.__version__})"


def source_icc(img: Image.Image) -> bytes | None:
    """The colour profile of a decoded picture: embedded ICC bytes, one built from a HEIF ``nclx``
    box (Display P3, BT.2020), or ``None`` for sRGB."""
    icc = img.info.get("icc_profile")
    if icc:
        return icc
    nclx = img.info.get("nclx_profile")
    if isinstance(nclx, dict):
        return profiles.nclx_profile(int(nclx.get("color_primaries", 2)))
    return None


def managed_rgb(img: Image.Image, icc: bytes | None, flatten: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """A decoded picture in the colour space ``icc`` describes → 8-bit sRGB (mode RGB).

    ``flatten`` turns any mode into 8-bit RGB, alpha composited
    (:func:`adain.io.images.to_rgb`); it runs before the profile is applied.

    No profile: the pixels are taken as sRGB. A grey profile applies to grey
    pictures, an RGB one to colour and grey ones (grey pixels are neutral in
    any RGB space), a CMYK one to CMYK pictures.

    Raises:
        profiles.ProfileError: a profile that is unreadable, does not fit the
            pixels, or cannot be applied.
    """
    if not icc:
        return flatten(img)
    space = profiles.profile_space(icc)
    if space == "CMYK" and img.mode == "CMYK":
        return profiles.to_srgb(img, icc)
    if space == "GRAY" and img.mode in ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return profiles.to_srgb(flatten(img).convert("L"), icc)
    if space == "RGB" and img.mode != "CMYK":
        return profiles.to_srgb(flatten(img), icc)
    raise profiles.ProfileError(f"embedded colour profile is for {space} but the pixels are {img.mode}")


def output_exif(img: Image.Image, *, keep_gps: bool = False, software: str = "") -> Image.Exif:
    """The EXIF to write with a picture made from ``img`` (already upright).

    Keeps camera, lens, exposure and dates; resets the orientation; drops the
    GPS block unless ``keep_gps``, the original's pixel sizes and thumbnail;
    sets ``Software``.
    """
    exif = Image.Exif()
    try:
        exif.load(img.getexif().tobytes())  # a copy: img's own EXIF stays as it is
    except Exception:  # an unreadable EXIF block is not kept, the picture still is  # noqa: BLE001
        exif = Image.Exif()
    exif_ifd = exif.get_ifd(EXIF_IFD)
    for tag in STALE_TAGS:
        exif.pop(tag, None)
        exif_ifd.pop(tag, None)
    if not keep_gps:
        exif.pop(GPS_IFD, None)
    if software:
        exif[SOFTWARE] = software
    if exif:
        exif[ORIENTATION] = 1
    return exif


def fit_exif(exif: Image.Exif, limit: int) -> bytes:
    """Serialise EXIF within ``limit`` bytes: as is, else without maker notes, else the essential tags only
    (make, model, dates, software, orientation), else nothing."""
    data = exif.tobytes()
    if len(data) <= limit:
        return data
    exif.get_ifd(EXIF_IFD).pop(MAKER_NOTE, None)
    data = exif.tobytes()
    if len(data) <= limit:
        return data
    small = Image.Exif()
    for tag in (*ESSENTIAL_TAGS, ORIENTATION, SOFTWARE):
        if tag in exif:
            small[tag] = exif[tag]
    source_ifd, small_ifd = exif.get_ifd(EXIF_IFD), small.get_ifd(EXIF_IFD)
    for tag in ESSENTIAL_EXIF_TAGS:
        if tag in source_ifd:
            small_ifd[tag] = source_ifd[tag]
    data = small.tobytes()
    return data if len(data) <= limit else b""


@dataclass(frozen=True)
class PhotoInfo:
    """What reading a picture found, for the output's metadata and colour.

    Attributes:
        decoder: format and library, e.g. ``"HEIF (pillow-heif 1.8.1)"``.
        size: ``(W, H)`` as displayed (orientation applied).
        icc: the colour profile the pixels were converted from (``None``: sRGB).
        profile: its description.
        exif: EXIF to carry to the output (see :func:`output_exif`), without GPS.
        exif_gps: the same with the GPS block, for ``keep_gps``.
    """

    decoder: str
    size: tuple[int, int]
    icc: bytes | None
    profile: str
    exif: Image.Exif
    exif_gps: Image.Exif

    @classmethod
    def of(cls, img: Image.Image, icc: bytes | None) -> PhotoInfo:
        return cls(
            decoder=decoder_name(img), size=img.size, icc=icc, profile=profiles.describe(icc),
            exif=output_exif(img), exif_gps=output_exif(img, keep_gps=True),
        )

