"""How a picture was made, written into it and read back (``adain info``).

Every output records a JSON object: the package version, the method, the
decoder weights (name and SHA-256), the content (name, SHA-256, the image
decoder that read it, its size and colour profile), the styles (name, SHA-256,
weight), α, colour preservation and colour management, and the sizes. Where it
is stored:

* PNG: an ``iTXt`` chunk ``adain`` (and ``Software``);
* JPEG, WebP, AVIF: an XMP packet, property ``adain:Provenance``, and
  ``xmp:CreatorTool``;
* all of them: the EXIF ``Software`` tag.

Nothing in the record depends on the time or the machine, so the same inputs
give the same file.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape

from PIL import Image, PngImagePlugin

XMP_NS = "urn:adain:provenance:1"
PNG_KEY = "adain"
JPEG_XMP_LIMIT = 65502  # one APP1 segment less its XMP header


def software() -> str:
    """``"adain <version>"``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"adain {version('adain')}"
    except PackageNotFoundError:
        return "adain (not installed)"


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


def to_xmp(record: dict) -> bytes:
    """An XMP packet holding ``record`` as JSON in ``adain:Provenance``."""
    text = escape(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    tool = escape(str(record.get("software", software())), {'"': "&quot;"})
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:adain="{XMP_NS}" xmp:CreatorTool="{tool}">'
        f"<adain:Provenance>{text}</adain:Provenance>"
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode("utf-8")


def from_xmp(packet: bytes | str) -> dict | None:
    """The record in an XMP packet, or ``None`` (no record, or not parseable)."""
    if isinstance(packet, bytes):
        packet = packet.decode("utf-8", "replace")
    start, end = packet.find("<x:xmpmeta"), packet.rfind("</x:xmpmeta>")
    if start < 0 or end < 0:
        return None
    try:
        node = ET.fromstring(packet[start : end + len("</x:xmpmeta>")]).find(f".//{{{XMP_NS}}}Provenance")
        return json.loads(node.text) if node is not None and node.text else None
    except (ET.ParseError, json.JSONDecodeError):
        return None


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
        info.add_itxt(PNG_KEY, json.dumps(record, ensure_ascii=False, separators=(",", ":")))
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
    text = img.info.get(PNG_KEY)
    if isinstance(text, str):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return None
    for key in ("xmp", "XML:com.adobe.xmp"):
        if img.info.get(key):
            record = from_xmp(img.info[key])
            if record is not None:
                return record
    return None
