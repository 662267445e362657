"""How a picture was made, written into it and read back (``adain info``).

Every output records a JSON object: the package version, the method, the
decoder weights (name and SHA-256), the content (name, SHA-256, the image
decoder that read it, its size and colour profile), the styles (name, SHA-256,
weight), α, colour preservation and colour management, and the sizes. Where it
is stored:

* PNG: an ``iTXt`` chunk ``adain`` (and ``Software``);
* JPEG, WebP, AVIF: an XMP packet, property ``adain:Provenance``, and
  ``xmp:CreatorTool``;
* all of them: the EXIF ``Software`` tag;
* videos: MP4/MOV/MKV the container's ``comment`` tag, animated GIF a comment
  extension, animated WebP an XMP chunk (:func:`gif_with_comment`,
  :func:`webp_with_xmp`; ``adain video`` writes them).

Nothing in the record depends on the time or the machine, so the same inputs
give the same file.
"""

from __future__ import annotations

import hashlib
import html
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from adain.errors import InputError
from adain.io.photo import (
    EXIF_IFD,
    GPS_IFD,
    JPEG_EXIF_LIMIT,
    ORIENTATION,
    SOFTWARE,
    PhotoInfo,
    fit_exif,
    register_heif,
)
from adain.io.profiles import INTENT, OutputColour, describe, output_colour
from adain.schema import SchemaError, load_json
from adain.version import __version__

XMP_NS = "urn:adain:provenance:1"
PNG_KEY = "adain"
RECORD_BYTES = 1 << 20  # a record is a few KB; a longer text is not one adain wrote
JPEG_XMP_LIMIT = 65502  # one APP1 segment less its XMP header
EXIF_LIMIT = 1 << 20  # PNG, WebP, AVIF: no format limit that matters; EXIF over 1 MB is trimmed all the same


def software() -> str:
    """``"adain <version>"`` (:data:`adain.__version__`)."""
    return f"adain {__version__}"


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def source_entry(path: str | Path, **extra: object) -> dict:
    """``{"name", "sha256", **extra}`` of an input file (name only, not the folder: outputs travel)."""
    path = Path(path)
    return {"name": path.name, "sha256": file_sha256(path), **extra}


def record_text(record: dict, *, ascii: bool = False) -> str:
    """The record as compact JSON, the one text every format stores (``ascii``: non-ASCII characters escaped)."""
    return json.dumps(record, ensure_ascii=ascii, separators=(",", ":"))


def parse_record(text: str | bytes | None) -> dict | None:
    """:func:`record_text`'s JSON → the record, or ``None`` (no text, or not a record)."""
    if not text:
        return None
    try:
        record = load_json(text, "record", max_bytes=RECORD_BYTES)
    except SchemaError:  # not JSON, too large or nested too deep: not a record adain wrote
        return None
    return record if isinstance(record, dict) else None


def to_xmp(record: dict) -> bytes:
    """An XMP packet holding ``record`` as JSON in ``adain:Provenance``."""
    text = html.escape(record_text(record), quote=False)  # & < >, as XML needs (xml.sax would import urllib and http)
    tool = html.escape(str(record.get("software", software())), quote=False).replace('"', "&quot;")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:adain="{XMP_NS}" xmp:CreatorTool="{tool}">'
        f"<adain:Provenance>{text}</adain:Provenance>"
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def from_xmp(packet: bytes | str) -> dict | None:
    """The record in an XMP packet, or ``None`` (no record, or not parseable)."""
    if isinstance(packet, bytes):
        packet = packet.decode("utf-8", "replace")
    start, end = packet.find("<x:xmpmeta"), packet.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        return None
    try:
        node = ET.fromstring(packet[start : end + len("</x:xmpmeta>")]).find(f".//{{{XMP_NS}}}Provenance")
    except ET.ParseError:
        return None
    return None if node is None else parse_record(node.text)


def gif_with_comment(data: bytes, text: str) -> bytes:
    """A GIF file's bytes with a comment extension holding ``text`` (ASCII), placed after the global
    colour table and the application extensions (the loop count), before the first frame.

    Raises:
        ValueError: not a GIF, or ``text`` not ASCII.
    """
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        raise ValueError("not a GIF file")
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while data[pos : pos + 2] == b"\x21\xff":  # application extension: label, then sub-blocks up to a 0 byte
        pos += 2
        while data[pos]:
            pos += data[pos] + 1
        pos += 1
    raw = text.encode("ascii")
    blocks = b"".join(bytes([len(raw[i : i + 255])]) + raw[i : i + 255] for i in range(0, len(raw), 255))
    return b"GIF89a" + data[6:pos] + b"\x21\xfe" + blocks + b"\x00" + data[pos:]


def webp_with_xmp(data: bytes, xmp: bytes, size: tuple[int, int]) -> bytes:
    """A WebP file's bytes with an ``XMP`` chunk holding ``xmp``; a simple (one-frame) file of ``size``
    ``(W, H)`` gets the extended format's ``VP8X`` header that metadata needs.

    Raises:
        ValueError: not a WebP file.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP file")
    if data[12:16] == b"VP8X":
        head, chunks = data[12:20] + bytes([data[20] | 0x04]) + data[21:30], data[30:]  # flags: XMP present
    else:
        canvas = (size[0] - 1).to_bytes(3, "little") + (size[1] - 1).to_bytes(3, "little")
        head, chunks = b"VP8X" + (10).to_bytes(4, "little") + b"\x04\x00\x00\x00" + canvas, data[12:]
    body = b"WEBP" + head + chunks + b"XMP " + len(xmp).to_bytes(4, "little") + xmp + b"\x00" * (len(xmp) % 2)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def save_options(fmt: str, record: dict | None, exif: bytes, icc: bytes | None) -> dict:
    """Keyword arguments of ``Image.save`` that embed the record, the EXIF and the colour profile in ``fmt``.

    Raises:
        ValueError: a record too large for a JPEG (its XMP segment holds 64 KB).
    """
    opts: dict = {}
    if icc and fmt in ("JPEG", "PNG", "WEBP", "AVIF", "TIFF", "HEIF"):
        opts["icc_profile"] = icc
    if exif and fmt in ("JPEG", "PNG", "WEBP", "AVIF", "HEIF"):
        opts["exif"] = exif
    if record is None:
        return opts
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_itxt(PNG_KEY, record_text(record))
        info.add_text("Software", str(record.get("software", software())))
        opts["pnginfo"] = info
    elif fmt in ("JPEG", "WEBP", "AVIF", "HEIF"):
        xmp = to_xmp(record)
        if fmt == "JPEG" and len(xmp) > JPEG_XMP_LIMIT:
            raise ValueError(f"the record of how the picture was made is {len(xmp)} bytes, over JPEG's {JPEG_XMP_LIMIT}: write a PNG")
        opts["xmp"] = xmp
    return opts


def read_record(img: Image.Image) -> dict | None:
    """The record stored in an opened picture, or ``None``."""
    for key in (PNG_KEY, "comment"):  # PNG iTXt, GIF comment
        if img.info.get(key):
            return parse_record(img.info[key])
    for key in ("xmp", "XML:com.adobe.xmp"):
        if img.info.get(key):
            record = from_xmp(img.info[key])
            if record is not None:
                return record
    return None


@dataclass(frozen=True)
class OutputMeta:
    """What goes into an output file besides its pixels.

    Attributes:
        record: how it was made (see the module's docstring), or ``None``.
        exif: the photo's EXIF to carry over (see :func:`adain.io.photo.output_exif`), or ``None``.
        colour: the output's colour space (default: sRGB, tagged).
    """

    record: dict | None = None
    exif: Image.Exif | None = None
    colour: OutputColour = field(default_factory=OutputColour)

    def encode(self, img: Image.Image, fmt: str) -> tuple[Image.Image, dict]:
        """An sRGB picture → ``(pixels to write, keyword arguments of Image.save)`` for format ``fmt``.

        EXIF over the format's limit loses its maker notes first, then all but
        the essential tags (see :func:`adain.io.photo.fit_exif`).

        Raises:
            profiles.ProfileError: the kept profile cannot be applied.
            ValueError: a record too large for the format.
        """
        pixels, icc = self.colour.apply(img)
        exif = Image.Exif()
        if self.exif is not None:
            exif.load(self.exif.tobytes())
        if self.record is not None:
            exif[SOFTWARE] = str(self.record.get("software", software()))
        data = fit_exif(exif, JPEG_EXIF_LIMIT if fmt == "JPEG" else EXIF_LIMIT) if len(exif) else b""
        return pixels, save_options(fmt, self.record, data, icc)


def picture_meta(opts: Any, *, networks: dict, method: str, content: dict, info: PhotoInfo, styles: list[dict], size: tuple[int, int],
                 extra: dict | None = None) -> OutputMeta:
    """The metadata of one stylized picture, for either model: the photo's EXIF (per ``opts``), colour, and the record.

    Args:
        opts: the job's settings (``alpha``, ``preserve_color``, ``content_size``, ``style_size``, ``crop``, ``keep_profile``,
            ``strip_metadata``, ``keep_gps``: :class:`adain.apps.files.StylizeOptions` or :class:`adain.apps.lite.LiteOptions`).
        networks: how the record names the networks (``Stylizer.model_entry``, ``LiteStylizer.model_entry``).
        content: the content file's :func:`source_entry`; ``info``: what reading it found.
        styles: each style's entry; ``size``: ``(H, W)`` of the output; ``extra``: more fields of the record.
    """
    colour = output_colour(info.icc, opts.keep_profile)
    record = {
        "software": software(), "method": method, **networks,
        "content": {**content, "decoder": info.decoder, "size": list(info.size), "profile": info.profile},
        "styles": styles, "alpha": opts.alpha, "preserve_color": opts.preserve_color,
        "colour": {"input": info.profile, "intent": INTENT.name.lower(), "output": "kept" if colour.icc else "sRGB"},
        "content_size": opts.content_size, "style_size": opts.style_size, "crop": opts.crop, "output_size": [size[1], size[0]],
        **(extra or {}),
    }
    exif = None if opts.strip_metadata else (info.exif_gps if opts.keep_gps else info.exif)
    return OutputMeta(record, exif, colour)


class NotAPictureError(InputError):
    """A file Pillow does not open as a picture (it may be a video)."""


def describe_file(path: str | Path) -> dict:
    """What ``adain info`` shows: format, size, colour profile, camera, date, GPS, and the record of how it was made.

    Raises:
        NotAPictureError: the file cannot be opened as a picture.
        InputError: a picture over the size Pillow opens (a decompression bomb).
    """
    register_heif()
    try:
        img = Image.open(path)
    except Image.DecompressionBombError:
        raise InputError(f"{path}: over the {2 * (Image.MAX_IMAGE_PIXELS or 0)} pixels Pillow opens: refused as a decompression bomb") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        raise NotAPictureError(f"{path}: not a picture adain can read") from None
    with img:
        exif = img.getexif()
        when = exif.get_ifd(EXIF_IFD).get(0x9003) or exif.get(0x0132)
        camera = " ".join(str(exif[t]).strip() for t in (0x010F, 0x0110) if t in exif)
        return {
            "file": str(path), "format": img.format, "size": list(img.size), "mode": img.mode,
            "frames": frames if (frames := getattr(img, "n_frames", 1)) > 1 else None,
            "profile": describe(img.info.get("icc_profile")),
            "camera": camera or None, "taken": str(when) if when else None,
            "orientation": exif.get(ORIENTATION), "gps": GPS_IFD in exif,
            "made_by": read_record(img),
        }


def info_text(info: dict) -> str:
    """:func:`describe_file`'s result as ``key: value`` lines, the record's entries indented below ``made_by``."""
    def show(v: object) -> str:
        return json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v)

    lines = [f"{k}: {show(v)}" for k, v in info.items() if k != "made_by" and v is not None]
    if "made_by" in info:
        record = info["made_by"]
        lines.append("made_by: (no adain record)" if record is None else "made_by:")
        lines += [f"  {k}: {show(v)}" for k, v in (record or {}).items()]
    return "\n".join(lines)
