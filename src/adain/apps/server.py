"""Web page and HTTP API: ``adain serve``.

A FastAPI app over one :class:`~adain.stylizer.Stylizer`, loaded once (and the lite model at its first request). Requests
run on a single worker thread (off the event loop) behind a bounded queue (503
when full); encoded styles are kept in an LRU cache keyed by the SHA-256 of the
style file, so a repeated style costs nothing. Uploads are written to a
per-request temporary folder that is removed before the response is sent.

Endpoints:
    * ``GET /``: the page (``adain/static``), no external asset;
    * ``GET /api/info``: bundled styles and photos, the limits;
    * ``POST /api/stylize``: multipart form in, image out (JSON ``{"detail": ...}`` on error);
    * ``POST /api/texture``: a texture from one style image;
    * ``GET /api/health``: queue and cache counters;
    * ``GET /openapi.json``: the schema.
"""

import asyncio
import contextlib
import hashlib
import io
import logging
import re
import resource
import tempfile
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import h11
import torch
import torch.nn.functional as F
import uvicorn
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from torch import Tensor
from uvicorn.protocols.http.h11_impl import H11Protocol

from adain.apps.compiling import CompileRule
from adain.apps.files import StylizeOptions, output_meta
from adain.color import PreserveColor
from adain.controls import Controls, check_weights_or_masks
from adain.device import memory_budget
from adain.errors import AdainError, InputError, UsageError
from adain.geometry import padded_side, prepare, resize_shorter, resized_shape
from adain.io import (
    EXAMPLES,
    MIN_SIDE,
    bundled_examples,
    encode_for,
    image_size,
    load_mask,
    load_photo,
    load_pil,
    pil_to_tensor,
)
from adain.lite.runtime import LiteStyle
from adain.lite.stylizer import LiteStylizer
from adain.lite.weights import WEIGHTS_DIR, lite_manifest
from adain.names import Method
from adain.ops import StyleStats
from adain.provenance import OutputMeta
from adain.refine import REFINE_STEPS as STYLIZE_REFINE_STEPS
from adain.refine import refine_memory
from adain.stylefile import looks_like_style_file, parse_style
from adain.stylizer import Stylizer
from adain.texture import REFINE_STEPS, SEEDS, check_texture_size, synthesize_texture
from adain.tiling import stylize_memory

PACKAGE = Path(__file__).parents[1]  # src/adain: static/
STATIC = PACKAGE / "static"
FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
T = TypeVar("T")
J = TypeVar("J")
ASPECT_TOLERANCE = 0.02  # a mask may differ from the content's aspect ratio by this fraction


def default_connections() -> int:
    """A quarter of the process's file-handle limit, at most 256: the connections held, plus as many
    accepted at once (the listen backlog), plus the files a request opens stay under the limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(8, min(256, (4096 if soft == resource.RLIM_INFINITY else soft) // 4))


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; over a limit is a 4xx answer.

    Attributes:
        max_upload_bytes: the whole request body (413 over it).
        max_pixels: pixels of each uploaded image, as decoded.
        max_size: the largest output shorter side a request may ask for.
        max_output_pixels: pixels of the output image, and of each style once resized to ``style_size``
            (both are checked from the files' headers, before anything is decoded).
        max_styles: styles per request.
        queue: requests waiting or running at once (503 over it).
        cache: encoded styles kept (LRU).
        style_size: larger styles are shrunk to this shorter side before encoding (the paper's 512, as ``adain stylize``).
        max_connections: open connections (and the listen backlog); one more closes the oldest one
            waiting for a request, or is closed at once if all are busy (default: a quarter of the
            file-handle limit, at most 256).
        request_timeout: seconds a connection has to send a whole request (headers and body), from its
            start or from the previous answer; then it is closed (idle and slow clients).
        max_refine: optimisation steps a texture or stylization request may ask for (at most :data:`adain.texture.REFINE_STEPS`'
            and :data:`adain.refine.REFINE_STEPS`' last).
        max_refine_pixels: the largest output a stylization with refinement steps may have (a step costs a few
            seconds per megapixel on a CPU, and :data:`adain.refine.BYTES_PER_PIXEL` of memory).
    """

    max_upload_bytes: int = 20 * 2**20
    max_pixels: int = 40_000_000
    max_size: int = 1024
    max_output_pixels: int = 2_000_000
    max_styles: int = 4
    queue: int = 4
    cache: int = 64
    style_size: int = 512
    max_connections: int = field(default_factory=default_connections)
    request_timeout: float = 30.0
    max_refine: int = 20
    max_refine_pixels: int = 600_000

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            least = 0 if name == "max_refine" else 1
            if value < least:
                raise UsageError(f"{name.replace('_', ' ')} must be at least {least}, got {value}")
        if self.max_size < MIN_SIDE or self.style_size < MIN_SIDE:
            raise UsageError(f"max size and style size must be at least {MIN_SIDE}")
        if self.max_refine > REFINE_STEPS[-1]:
            raise UsageError(f"max refine must be at most {REFINE_STEPS[-1]} (adain.texture.REFINE_STEPS), got {self.max_refine}")


class ErrorBody(BaseModel):
    """Every error answer: one message for the user."""

    detail: str


class Example(BaseModel):
    name: str
    url: str


class Info(BaseModel):
    styles: list[Example]
    contents: list[Example]
    limits: dict[str, int]
    models: str | None = None  # manifest of the exported models the page can run in the browser
    lite: str | None = None  # manifest of the lite model's graphs, which the page can run in the browser
    server: bool = True  # False in a static site's copy: no /api/stylize


class Health(BaseModel):
    status: str
    pending: int
    queue: int
    cache_size: int
    cache_hits: int
    cache_misses: int


@dataclass(frozen=True)
class Source:
    """One input image: a label for messages, the file to read, the SHA-256 of its bytes."""

    label: str
    path: Path
    digest: str


def load_source(source: Source, loader: Callable[[Path, int], T], max_pixels: int) -> T:
    """``loader(source.path, max_pixels)`` with the label, not the temp path, in error messages."""
    try:
        return loader(source.path, max_pixels)
    except InputError as exc:
        raise InputError(str(exc).replace(str(source.path), source.label)) from None


def check_planned(source: Source, size: int, limits: Limits, what: str, hint: str) -> tuple[int, int]:
    """``(H, W)`` that ``source`` will have once its shorter side is resized to ``size``, from the file's
    header (nothing is decoded); over ``limits.max_output_pixels`` is an :class:`InputError`."""
    w, h = load_source(source, image_size, limits.max_pixels)
    ph, pw = resized_shape(h, w, size)
    if ph * pw > limits.max_output_pixels:
        raise InputError(f"{source.label}: {what} would be {pw}x{ph} = {ph * pw} pixels, over the limit of {limits.max_output_pixels}: {hint}")
    return ph, pw


def resize_mask(mask: Tensor, size: tuple[int, int], label: str) -> Tensor:
    """Mask ``(h, w)`` → ``(H, W)`` of the content's ``size``; its aspect ratio must match the content's."""
    (h, w), (mh, mw) = size, mask.shape
    if abs(mw / mh - w / h) > ASPECT_TOLERANCE * (w / h):
        raise InputError(f"{label}: {mw}x{mh} does not have the content's aspect ratio ({w}x{h})")
    return F.interpolate(mask[None, None], size=size, mode="bilinear", antialias=True, align_corners=False)[0, 0].clamp(0, 1)


def complete_masks(masks: list[Tensor], n_styles: int) -> Tensor:
    """``K`` masks ``(H, W)`` as given, or ``K − 1``: then the first style takes what the others leave.

    Returns:
        ``(K, H, W)``.
    """
    stack = torch.stack(masks)
    if len(masks) == n_styles:
        return stack
    rest = (1 - stack.sum(0)).clamp(0, 1)
    if float(rest.max()) < 1 / 255:  # masks are 8-bit: less is resampling noise
        raise InputError("the masks cover the whole image: nothing is left for style 1")
    return torch.cat([rest[None], stack])


def encode_image(image: Tensor, fmt: str, meta: OutputMeta | None = None) -> bytes:
    """``(3, H, W)`` in [0, 1] → file bytes in ``fmt`` (a key of :data:`FORMATS`), tagged sRGB, with ``meta``."""
    buffer = io.BytesIO()
    pil_format = FORMATS[fmt][0]
    img, options = encode_for(image, pil_format, meta)
    img.save(buffer, format=pil_format, **({"quality": 92} if pil_format != "PNG" else {}), **options)
    return buffer.getvalue()


def is_style_upload(source: Source) -> bool:
    """Whether an upload is a style file (a safetensors header), not a painting."""
    with open(source.path, "rb") as f:
        return looks_like_style_file(f.read(16))


def read_style_file(source: Source, preserve_color: str | None) -> StyleStats | None:
    """An uploaded style file's statistics (``None`` if the upload is not one; checked by the caller's encoder).

    Raises:
        InputError: a damaged style file, or one with colour preservation.
    """
    if not is_style_upload(source):
        return None
    if preserve_color is not None:
        raise InputError(f"{source.label}: colour preservation recolours the painting, a style file holds only its statistics")
    return parse_style(source.path.read_bytes(), source.label)


class StyleCache:
    """LRU cache of encoded single styles, with hit and miss counters."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: OrderedDict[tuple, StyleStats] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: tuple, encode: Callable[[], StyleStats]) -> tuple[StyleStats, bool]:
        """The cached value of ``key`` or ``encode()`` (then stored); also whether it was a hit."""
        if key in self.items:
            self.items.move_to_end(key)
            self.hits += 1
            return self.items[key], True
        value = encode()
        self.misses += 1
        self.items[key] = value
        while len(self.items) > self.capacity:
            self.items.popitem(last=False)
        return value, False


@dataclass(frozen=True)
class Job:
    """One stylization request, validated; its files are on disk until it is done."""

    content: Source
    styles: list[Source]
    masks: list[Source]
    weights: list[float] | None
    alpha: float
    preserve_color: PreserveColor | None
    size: int
    format: str
    method: str = "adain"
    model: str = "full"
    refine: int = 0


@dataclass(frozen=True)
class TextureJob:
    """One texture request, validated (see ``POST /api/texture``)."""

    style: Source
    width: int
    height: int
    seed: int
    tileable: bool
    method: str
    refine: int
    format: str


class Service:
    """The model, the worker thread, the queue counter and the style cache."""

    def __init__(self, stylizer: Stylizer, limits: Limits, compile: bool | None = None) -> None:
        self.stylizer = stylizer
        self.limits = limits
        # a content shape is compiled on a thread of its own once its requests so far say as many again repay it
        self.rule = CompileRule(stylizer, compile, log=lambda msg: logging.getLogger("adain.serve").warning(msg), background=True)
        self.cache = StyleCache(limits.cache)
        self.pending = 0
        self._executor: ThreadPoolExecutor | None = None
        self._lite: LiteStylizer | None = None

    def networks(self, model: str) -> Stylizer | LiteStylizer:
        """The stylizer of ``model``: the full one this service was made with, or the shipped lite model (loaded at its first request)."""
        if model == "full":
            return self.stylizer
        if self._lite is None:
            self._lite = LiteStylizer()
        return self._lite

    @property
    def executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="adain-worker")
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def run(self, job: Job) -> tuple[bytes, list[bool]]:
        """Run ``job`` on the worker thread; 503 when the queue is full."""
        return await self.queued(self.render, job)

    async def queued(self, work: Callable[[J], T], job: J) -> T:
        """``work(job)`` on the worker thread, counted in the queue; 503 when it is full."""
        if self.pending >= self.limits.queue:
            raise HTTPException(503, f"busy: {self.pending} requests are queued (limit {self.limits.queue}), try again shortly", headers={"Retry-After": "5"})
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, work, job)
        finally:
            self.pending -= 1

    def texture(self, job: TextureJob) -> bytes:
        """Make and encode one texture (on the worker thread)."""
        style = resize_shorter(pil_to_tensor(load_source(job.style, load_pil, self.limits.max_pixels)), self.limits.style_size, enlarge=False)
        try:
            image = synthesize_texture(self.stylizer, style, job.height, job.width, method=job.method, seed=job.seed,
                                       tileable=job.tileable, refine=job.refine)
        except UsageError as exc:  # a flat style
            raise InputError(f"{job.style.label}: {exc}") from None
        return encode_image(image, job.format)

    def style_stats(self, job: Job, content: Tensor) -> tuple[StyleStats | list[LiteStyle], list[bool]]:
        """Encoded styles of ``job`` for its model (from the cache where possible), and which were cache hits."""
        networks = self.networks(job.model)
        # recoloured styles depend on the content too
        context = None if job.preserve_color is None else (job.content.digest, job.size)
        parts, hits = [], []
        for source in job.styles:

            def encode(source: Source = source) -> StyleStats | list[LiteStyle]:
                style_file = read_style_file(source, job.preserve_color)
                if style_file is not None:
                    style_file.for_method(job.method)
                    return style_file.for_encoder(networks.encoder_identity)
                style = pil_to_tensor(load_source(source, load_pil, self.limits.max_pixels))
                style = resize_shorter(style, self.limits.style_size, enlarge=False)
                try:
                    return networks.style_stats([style], job.method, preserve_color=job.preserve_color, reference=content)
                except UsageError as exc:  # a flat style image
                    raise InputError(f"{source.label}: {exc}") from None

            stats, hit = self.cache.get((source.digest, job.method, job.preserve_color, context, job.model), encode)
            parts.append(stats)
            hits.append(hit)
        if job.model == "lite":
            return [style for part in parts for style in part], hits
        return StyleStats.cat(parts), hits

    def refine_stats(self, job: Job, content: Tensor, networks: Stylizer) -> list[StyleStats]:
        """The styles' statistics at every tap for a refinement (paintings only), after checking its size and memory."""
        h, w = content.shape[-2:]
        if h * w > self.limits.max_refine_pixels:
            raise InputError(f"{job.content.label}: refining a {w}x{h} output is over this server's limit of {self.limits.max_refine_pixels} "
                             "pixels: ask for a smaller size or no refinement")
        need, have = stylize_memory(h, w) + refine_memory(padded_side(h), padded_side(w)), memory_budget()
        if need > have:
            raise InputError(f"{job.content.label}: refining a {w}x{h} output needs about {need / 2**30:.1f} GB of memory, more than the "
                             f"{have / 2**30:.1f} GB available: ask for a smaller size")
        paintings = []
        for source in job.styles:
            if is_style_upload(source):
                raise InputError(f"{source.label}: a style file holds statistics only; refinement needs the painting")
            style = pil_to_tensor(load_source(source, load_pil, self.limits.max_pixels))
            paintings.append(resize_shorter(style, self.limits.style_size, enlarge=False))
        return networks.tap_stats(paintings, job.method, preserve_color=job.preserve_color, reference=content)

    def render(self, job: Job) -> tuple[bytes, list[bool]]:
        """Decode, stylize and encode one job (on the worker thread): image bytes and the cache hits.

        Every size (content, masks, styles, output) is checked from the files' headers first.
        """
        check_planned(job.content, job.size, self.limits, "the output", "ask for a smaller size")
        for source in job.styles:
            if not is_style_upload(source):
                check_planned(source, self.limits.style_size, self.limits, f"resized to {self.limits.style_size} px", "crop it to a less elongated shape")
        for source in job.masks:
            load_source(source, image_size, self.limits.max_pixels)
        raw, info = load_source(job.content, load_photo, self.limits.max_pixels)
        content = prepare(raw, job.size)
        h, w = content.shape[-2:]
        masks = None
        if job.masks:
            loaded = [resize_mask(load_source(m, load_mask, self.limits.max_pixels), (h, w), m.label) for m in job.masks]
            masks = complete_masks(loaded, len(job.styles))
        controls = Controls(alpha=job.alpha, weights=job.weights, masks=masks, preserve_color=job.preserve_color, method=job.method)
        stats, hits = self.style_stats(job, content)
        networks = self.networks(job.model)
        if job.model == "lite":
            out = networks.stylize_batch(content[None], stats, controls)[0]
        elif job.refine:
            taps = self.refine_stats(job, content, networks)  # type: ignore[arg-type]
            out = networks.stylize_batch(content[None], stats, controls, refine=job.refine, tap_stats=taps)[0]  # type: ignore[call-arg]
        else:
            with self.rule.timed((1, *content.shape)):  # type: ignore[arg-type]
                out = networks.stylize_batch(content[None], stats, controls)[0]
        opts = StylizeOptions(alpha=job.alpha, preserve_color=job.preserve_color, content_size=job.size, style_size=self.limits.style_size,
                              method=job.method, refine=job.refine)
        meta = output_meta(networks, opts, content={"name": job.content.label, "sha256": job.content.digest}, info=info,
                           styles=[{"name": s.label, "sha256": s.digest} for s in job.styles], size=(h, w))
        return encode_image(out, job.format, meta), hits


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``max_bytes`` (by Content-Length, else counted as it streams)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def message(self) -> str:
        return f"the upload is over the limit of {self.max_bytes / 2**20:g} MiB"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await JSONResponse({"detail": self.message()}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, self.message())
            return message

        await self.app(scope, counted, send)


async def save_upload(upload: UploadFile, folder: Path, name: str, label: str) -> Source:
    """Write an upload to ``folder/name`` (never the client's file name) → :class:`Source`."""
    data = await upload.read()
    path = folder / name
    path.write_bytes(data)
    return Source(f"{label} '{upload.filename or name}'", path, hashlib.sha256(data).hexdigest())


def bundled_source(name: str, examples: dict[str, Path], kind: str) -> Source:
    """A bundled example by name → :class:`Source`; unknown names are a :class:`InputError`."""
    if name not in examples:
        raise InputError(f"unknown bundled {kind} '{name}' (bundled: {', '.join(examples)})")
    path = examples[name]
    return Source(f"bundled {kind} '{name}'", path, hashlib.sha256(path.read_bytes()).hexdigest())


def check_counts(n_content: int, n_styles: int, n_masks: int, n_weights: int, limits: Limits) -> None:
    """Validate how many inputs of each kind a request has (before anything is decoded)."""
    if n_content != 1:
        raise InputError("give exactly one content image: a 'content' file or a 'content_name'")
    if n_styles == 0:
        raise InputError("give at least one style: a 'style' file or a 'style_name'")
    if n_styles > limits.max_styles:
        raise InputError(f"{n_styles} styles given, the limit is {limits.max_styles}")
    if n_masks and n_masks not in (n_styles, n_styles - 1):
        raise InputError(f"{n_masks} masks given for {n_styles} styles: give one per style, or one fewer (style 1 then takes the rest)")
    if n_weights and n_weights != n_styles:
        raise InputError(f"{n_weights} weights given for {n_styles} styles")
    check_weights_or_masks(n_weights or None, n_masks or None)


def validation_message(exc: RequestValidationError) -> str:
    """FastAPI's list of validation errors → one line, ``field: problem; …``."""
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


class Isolated:
    """ASGI middleware: cross-origin isolation headers, so the page's WebAssembly runtime may use threads."""

    HEADERS = ((b"cross-origin-opener-policy", b"same-origin"), (b"cross-origin-embedder-policy", b"require-corp"))

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def create_app(
    stylizer: Stylizer | None = None,
    *,
    limits: Limits | None = None,
    temp_dir: str | Path | None = None,
    models: str | Path | None = None,
    compile: bool | None = None,
) -> FastAPI:
    """The app: page, API and schema over one model.

    Args:
        stylizer: the model (default: the shipped decoder, loaded now).
        limits: request limits (default :class:`Limits`).
        temp_dir: where per-request temp folders go (default: the system's).
        models: an ONNX export folder (``adain export --format onnx``), served at ``/models/`` for the
            page to compute in the browser; checked now.
        compile: ``torch.compile`` the networks for the requests' content shapes (a few at most), on a thread of
            its own while requests of that shape run eagerly: ``True`` at a shape's first request, ``False``
            never, ``None`` once its requests so far, taken as as many again to come, repay it
            (:class:`adain.apps.compiling.CompileRule`; a torch Stylizer only). A failed compilation logs one line.
    """
    limits = limits or Limits()
    if models is not None:
        from adain.onnxrt import read_manifest

        read_manifest(models)
    service = Service(stylizer or Stylizer(), limits, compile)
    lite = lite_manifest()
    styles, contents = bundled_examples("style"), bundled_examples("content")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(
        title="adain",
        summary="Arbitrary style transfer with AdaIN (Huang & Belongie, 2017)",
        version="0.1.0",
        docs_url=None,  # Swagger UI and ReDoc load from a CDN: the page works offline, the schema is at /openapi.json
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(BodyLimit, max_bytes=limits.max_upload_bytes)
    app.add_middleware(Isolated)

    @app.exception_handler(AdainError)
    async def bad_input(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_message(exc)}, status_code=422)

    errors = {
        400: {"model": ErrorBody, "description": "bad image or bad parameters"},
        413: {"model": ErrorBody, "description": "upload over the size limit"},
        422: {"model": ErrorBody, "description": "a parameter of the wrong type or out of range"},
        503: {"model": ErrorBody, "description": "the queue is full: retry after a few seconds"},
    }
    image_types = {mime: {"schema": {"type": "string", "format": "binary"}} for _, mime in FORMATS.values()}

    @app.post(
        "/api/stylize",
        response_class=Response,
        responses={200: {"content": image_types, "description": "the stylized image"}, **errors},
        summary="Stylize a content image",
    )
    async def stylize(
        content: Annotated[UploadFile | None, File(description="content image (or use content_name)")] = None,
        content_name: Annotated[str | None, Form(description=f"a bundled photo: {', '.join(contents)}")] = None,
        style: Annotated[list[UploadFile], File(description="style images, in order after the style_name ones")] = [],  # noqa: B006 (FastAPI copies defaults)
        style_name: Annotated[list[str], Form(description=f"bundled styles, first in order: {', '.join(styles)}")] = [],  # noqa: B006
        weight: Annotated[list[float], Form(description="interpolation weights, one per style (default: equal)")] = [],  # noqa: B006
        mask: Annotated[list[UploadFile], File(description="masks (white = the style): one per style, or one fewer and style 1 takes the rest")] = [],  # noqa: B006
        alpha: Annotated[float, Form(ge=0, le=1, description="content–style trade-off: 0 the photo, 1 fully stylized")] = 1.0,
        preserve_color: Annotated[Literal["none", "color", "luminance"], Form(description="keep the photo's colours")] = "none",
        size: Annotated[int, Form(ge=0, le=limits.max_size, description="output shorter side in px, 0 keeps the photo's")] = 512,
        format: Annotated[Literal["png", "jpeg", "webp"], Form(description="output format")] = "png",
        method: Annotated[Method, Form(description="transfer method: adain (mean and std), wct (covariance), efdm (histograms)")] = "adain",
        model: Annotated[Literal["full", "lite"], Form(description="the network: full (the paper's), or lite (the small distilled one: "
                                                                   "several times faster, adain only, paintings rather than style files)")] = "full",
        refine: Annotated[int, Form(ge=0, le=min(limits.max_refine, STYLIZE_REFINE_STEPS[-1]),
                                    description="optimisation steps of the paper's losses after the decoder (full model, paintings only, "
                                    f"outputs up to {limits.max_refine_pixels} pixels; seconds per step)")] = 0,
    ) -> Response:
        n_content = (content is not None) + (content_name is not None)
        check_counts(n_content, len(style_name) + len(style), len(mask), len(weight), limits)
        if model == "lite" and method != "adain":
            raise UsageError(f"the lite model transfers with adain only, not {method}")
        if model == "lite" and refine:
            raise UsageError("refinement needs the full model's encoder: use model=full")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="adain-upload-", dir=temp_dir) as folder:
            tmp = Path(folder)
            if content is not None:
                content_source = await save_upload(content, tmp, "content", "content")
            else:
                content_source = bundled_source(content_name, contents, "content")
            style_sources = [bundled_source(n, styles, "style") for n in style_name]
            style_sources += [await save_upload(f, tmp, f"style{i}", f"style {len(style_name) + i + 1}") for i, f in enumerate(style)]
            mask_sources = [await save_upload(f, tmp, f"mask{i}", f"mask {i + 1}") for i, f in enumerate(mask)]
            job = Job(
                content=content_source, styles=style_sources, masks=mask_sources, weights=weight or None, alpha=alpha,
                preserve_color=None if preserve_color == "none" else preserve_color, size=size, format=format, method=method, model=model,
                refine=refine,
            )
            data, hits = await service.run(job)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(content.filename or "content").stem if content is not None else content_name)
        headers = {
            "Content-Disposition": f'inline; filename="adain-{stem}.{format}"',
            "X-Style-Cache": ",".join("hit" if h else "miss" for h in hits),
            "X-Elapsed-Seconds": f"{time.perf_counter() - started:.3f}",
        }
        return Response(data, media_type=FORMATS[format][1], headers=headers)

    @app.post(
        "/api/texture",
        response_class=Response,
        responses={200: {"content": image_types, "description": "the texture"}, **errors},
        summary="Make a texture from a style image",
    )
    async def texture(
        style: Annotated[UploadFile | None, File(description="style image (or use style_name)")] = None,
        style_name: Annotated[str | None, Form(description=f"a bundled style: {', '.join(styles)}")] = None,
        width: Annotated[int, Form(ge=16, le=limits.max_size, description="texture width in px")] = 512,
        height: Annotated[int, Form(ge=16, le=limits.max_size, description="texture height in px")] = 512,
        seed: Annotated[int, Form(ge=SEEDS[0], le=SEEDS[-1], description="seed of the noise: same seed, same texture")] = 0,
        tileable: Annotated[bool, Form(description="wrap around seamlessly (sides multiples of 8)")] = False,
        method: Annotated[Method, Form(description="transfer method of the style's statistics")] = "adain",
        refine: Annotated[int, Form(ge=0, le=limits.max_refine, description="Gram-loss optimisation steps after decoding")] = 0,
        format: Annotated[Literal["png", "jpeg", "webp"], Form(description="output format")] = "png",
    ) -> Response:
        if (style is None) == (style_name is None):
            raise InputError("give exactly one style image (style or style_name)")
        check_texture_size(height, width, tileable, max_pixels=limits.max_output_pixels)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="adain-upload-", dir=temp_dir) as folder:
            source = await save_upload(style, Path(folder), "style0", "style 1") if style is not None else bundled_source(style_name, styles, "style")
            job = TextureJob(source, width, height, seed, tileable, method, refine, format)
            data = await service.queued(service.texture, job)
        headers = {
            "Content-Disposition": f'inline; filename="adain-texture-{seed}.{format}"',
            "X-Elapsed-Seconds": f"{time.perf_counter() - started:.3f}",
        }
        return Response(data, media_type=FORMATS[format][1], headers=headers)

    @app.get("/api/info", summary="Bundled styles and photos, and the limits")
    async def info() -> Info:
        return Info(
            styles=[Example(name=n, url=f"/examples/style/{p.name}") for n, p in styles.items()],
            contents=[Example(name=n, url=f"/examples/content/{p.name}") for n, p in contents.items()],
            limits=asdict(limits),
            models="models/manifest.json" if models is not None else None,
            lite="lite/manifest.json" if lite is not None else None,
        )

    @app.get("/api/health", summary="Queue and cache counters")
    async def health() -> Health:
        cache = service.cache
        return Health(status="ok", pending=service.pending, queue=limits.queue, cache_size=len(cache.items), cache_hits=cache.hits, cache_misses=cache.misses)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if models is not None:
        app.mount("/models", StaticFiles(directory=models), name="models")
    if lite is not None:

        @app.get("/lite/manifest.json", include_in_schema=False)
        async def lite_manifest_file() -> JSONResponse:
            return JSONResponse(lite)

        @app.get("/lite/{name}", include_in_schema=False)
        async def lite_graph(name: str) -> FileResponse:
            files = {entry["path"] for entry in lite["files"].values()}
            if name not in files:
                raise HTTPException(404, "not found")
            return FileResponse(WEIGHTS_DIR / name, media_type="application/octet-stream")
    app.mount("/examples/style", StaticFiles(directory=EXAMPLES / "style"), name="example-styles")
    app.mount("/examples/content", StaticFiles(directory=EXAMPLES / "content"), name="example-contents")
    return app


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a connection cap and a deadline per request.

    At ``max_connections`` a new connection closes the oldest one that is waiting for a request
    (idle, or still sending its headers); if every one is busy with a request, the new one is
    dropped as soon as it is accepted. So idle sockets can neither use up the file handles nor
    lock out other clients. A request whose headers and body have not all arrived
    ``request_timeout`` seconds after the connection opened (or after the previous answer) is
    dropped too. A request being answered has no deadline (the queue bounds that work).
    """

    max_connections = 256
    request_timeout = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._opened = time.monotonic()
        self._dropped = len(self.connections) >= self.max_connections and not self._evict_oldest_waiting()
        if self._dropped:
            transport.abort()
            return
        super().connection_made(transport)
        self._arm()

    def _waiting(self) -> bool:
        """No request in progress: idle since the last answer, or its headers not all in."""
        return self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete)

    def _evict_oldest_waiting(self) -> bool:
        waiting = [c for c in self.connections if isinstance(c, GuardedH11Protocol) and c._waiting() and not c.transport.is_closing()]
        if not waiting:
            return False
        min(waiting, key=lambda c: c._opened).transport.close()
        return True

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR):
            self._disarm()  # the whole request is in: the answer has no deadline

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._dropped:
            return
        self._disarm()
        super().connection_lost(exc)


class LogBudget(logging.Filter):
    """Lets at most ``burst`` records through per ``period`` seconds; the first record after a quiet
    period says how many were dropped. Keeps the log bounded under attack (a flood of errors)."""

    def __init__(self, burst: int = 20, period: float = 60.0) -> None:
        super().__init__()
        self.burst, self.period = burst, period
        self.window_start, self.count, self.dropped = time.monotonic(), 0, 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self.window_start >= self.period:
            if self.dropped:
                record.msg = f"({self.dropped} log messages dropped in {self.period:g} s) {record.msg}"
            self.window_start, self.count, self.dropped = now, 0, 0
        self.count += 1
        if self.count > self.burst:
            self.dropped += 1
            return False
        return True


def uvicorn_config(app: FastAPI, host: str, port: int, limits: Limits) -> uvicorn.Config:
    """uvicorn's settings for ``app``: the guarded protocol with ``limits``' cap and deadline, short keep-alive, small header buffer."""

    class Protocol(GuardedH11Protocol):
        max_connections = limits.max_connections
        request_timeout = limits.request_timeout

    return uvicorn.Config(app, host=host, port=port, http=Protocol, backlog=limits.max_connections, timeout_keep_alive=5,
                          h11_max_incomplete_event_size=16 * 1024, log_level="info")


def run_server(app: FastAPI, host: str, port: int, limits: Limits) -> None:
    """Serve ``app`` until interrupted, with bounded connections and a bounded log."""
    config = uvicorn_config(app, host, port, limits)
    for name in ("uvicorn.error", "uvicorn.access", "asyncio", "adain.serve"):
        logging.getLogger(name).addFilter(LogBudget())
    uvicorn.Server(config).run()


def site_info(limits: Limits | None = None) -> Info:
    """``api/info`` of a static site: relative URLs, the models beside the page, no server."""
    return Info(
        styles=[Example(name=n, url=f"examples/style/{p.name}") for n, p in bundled_examples("style").items()],
        contents=[Example(name=n, url=f"examples/content/{p.name}") for n, p in bundled_examples("content").items()],
        limits=asdict(limits or Limits()),
        models="models/manifest.json",
        server=False,
    )


def write_site(folder: str | Path, limits: Limits | None = None) -> None:
    """Write the page for a static host into ``folder``: ``index.html``, ``static/``, ``examples/`` and
    ``api/info``; the page computes in the browser with the models it expects in ``folder/models/``."""
    import shutil

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    for name, source in (("static", STATIC), ("examples", EXAMPLES)):
        shutil.copytree(source, folder / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(STATIC / "index.html", folder / "index.html")
    (folder / "api").mkdir(exist_ok=True)
    (folder / "api" / "info").write_text(site_info(limits).model_dump_json(indent=2) + "\n")


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    stylizer: Stylizer | Callable[[], Stylizer] = Stylizer,
    *,
    limits: Limits | None = None,
    models: str | Path | None = None,
    compile: bool | None = None,
) -> None:
    """Load the model once (``stylizer``, or a function making it) and serve the app under uvicorn until
    interrupted (see :func:`run_server`; ``compile``: see :func:`create_app`)."""
    limits = limits or Limits()
    started = time.perf_counter()
    stylizer = stylizer if isinstance(stylizer, Stylizer) else stylizer()
    print(f"model loaded on {stylizer.device} in {time.perf_counter() - started:.1f} s; open http://{host}:{port}/", flush=True)
    run_server(create_app(stylizer, limits=limits, models=models, compile=compile), host, port, limits)
