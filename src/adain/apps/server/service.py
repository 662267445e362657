"""The work of the server: the models, the worker thread and its queue, the style cache, stylizations and textures."""

import asyncio
import functools
import io
import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, cast

import torch
from fastapi import HTTPException
from torch import Tensor

from adain.apps.compiling import CompileRule
from adain.apps.files import StylizeOptions, output_meta
from adain.apps.masks import read_masks
from adain.apps.server.limits import Limits
from adain.apps.server.uploads import Job, Source, TextureJob, check_job, is_style_upload, labelled, load_source, read_style_file
from adain.controls import Controls
from adain.device import memory_budget
from adain.errors import InputError, UsageError
from adain.geometry import padded_side, prepare, resize_shorter
from adain.io.images import encode_for, load_photo, load_pil, pil_to_tensor
from adain.io.provenance import OutputMeta
from adain.lite.runtime import LiteStyle
from adain.lite.stylizer import LiteStylizer
from adain.ops import StyleStats
from adain.refine import refine_memory
from adain.stylizer import Stylizer
from adain.texture import synthesize_texture
from adain.tiling import stylize_memory

FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
T = TypeVar("T")
J = TypeVar("J")
Encoded = StyleStats | list[LiteStyle]  # one style as a model takes it: the full model's statistics, or the lite model's


def encode_image(image: Tensor, fmt: str, meta: OutputMeta | None = None) -> bytes:
    """``(3, H, W)`` in [0, 1] → file bytes in ``fmt`` (a key of :data:`FORMATS`), tagged sRGB, with ``meta``."""
    buffer = io.BytesIO()
    pil_format = FORMATS[fmt][0]
    img, options = encode_for(image, pil_format, meta)
    img.save(buffer, format=pil_format, **({"quality": 92} if pil_format != "PNG" else {}), **options)
    return buffer.getvalue()


class StyleCache:
    """LRU cache of encoded single styles, with hit and miss counters."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.items: OrderedDict[tuple, Encoded] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: tuple, encode: Callable[[], Encoded]) -> tuple[Encoded, bool]:
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
            self._lite = LiteStylizer(refiner=self.stylizer)  # the full model refines its outputs
        return self._lite

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The single worker thread (started at the first request)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="adain-worker")
        return self._executor

    def close(self) -> None:
        """Stop the worker thread; what is still queued is cancelled."""
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

    def painting(self, source: Source) -> Tensor:
        """A style painting, decoded and shrunk to ``limits.style_size``."""
        style = pil_to_tensor(load_source(source, load_pil, self.limits.max_pixels))
        return resize_shorter(style, self.limits.style_size, enlarge=False)

    def encode_style(self, job: Job, source: Source, content: Tensor, networks: Stylizer | LiteStylizer) -> Encoded:
        """One style of ``job`` encoded by ``networks``: an uploaded style file's statistics, or the painting's."""
        style_file = read_style_file(source, job.preserve_color)
        if style_file is not None:
            style_file.for_method(job.method)
            return style_file.for_encoder(networks.encoder_identity)
        style = self.painting(source)
        try:
            return networks.style_stats([style], job.method, preserve_color=job.preserve_color, reference=content)
        except UsageError as exc:  # a flat style image
            raise InputError(f"{source.label}: {exc}") from None

    def style_stats(self, job: Job, content: Tensor) -> tuple[Encoded, list[bool]]:
        """Encoded styles of ``job`` for its model (from the cache where possible), and which were cache hits."""
        networks = self.networks(job.model)
        # recoloured styles depend on the content too
        context = None if job.preserve_color is None else (job.content.digest, job.size)
        parts: list[Encoded] = []
        hits: list[bool] = []
        for source in job.styles:
            encode = functools.partial(self.encode_style, job, source, content, networks)
            stats, hit = self.cache.get((source.digest, job.method, job.preserve_color, context, job.model), encode)
            parts.append(stats)
            hits.append(hit)
        if job.model == "lite":
            return [style for part in cast(list[list[LiteStyle]], parts) for style in part], hits
        return StyleStats.cat(cast(list[StyleStats], parts)), hits

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
        paintings: list[Tensor | StyleStats] = []
        for source in job.styles:
            if is_style_upload(source):
                raise InputError(f"{source.label}: a style file holds statistics only; refinement needs the painting")
            paintings.append(self.painting(source))
        return networks.tap_stats(paintings, job.method, preserve_color=job.preserve_color, reference=content)

    def stylize(self, job: Job, content: Tensor, controls: Controls) -> tuple[Tensor, list[bool]]:
        """``content`` ``(3, H, W)`` stylized as ``job`` asks, by its model; also the style cache hits."""
        stats, hits = self.style_stats(job, content)
        taps = self.refine_stats(job, content, self.stylizer) if job.refine else None
        if job.model == "lite":
            lite = cast(LiteStylizer, self.networks(job.model))
            return lite.stylize_batch(content[None], cast(list[LiteStyle], stats), controls, refine=job.refine, tap_stats=taps)[0], hits
        full, styles = self.stylizer, cast(StyleStats, stats)
        if job.refine:
            return full.stylize_batch(content[None], styles, controls, refine=job.refine, tap_stats=taps)[0], hits
        with self.rule.timed((1, *content.shape)):
            return full.stylize_batch(content[None], styles, controls)[0], hits

    def render(self, job: Job) -> tuple[bytes, list[bool]]:
        """Decode, stylize and encode one job (on the worker thread): image bytes and the cache hits.

        Every size (content, masks, styles, output) is checked from the files' headers first.
        """
        check_job(job, self.limits)
        raw, info = load_source(job.content, load_photo, self.limits.max_pixels)
        content = prepare(raw, job.size)
        h, w = content.shape[-2:]
        with labelled(job.masks):
            read = read_masks([m.path for m in job.masks], None, len(job.styles), (h, w), max_pixels=self.limits.max_pixels)
        masks = None if read is None else torch.from_numpy(read)
        controls = Controls(alpha=job.alpha, weights=job.weights, masks=masks, preserve_color=job.preserve_color, method=job.method)
        out, hits = self.stylize(job, content, controls)
        opts = StylizeOptions(alpha=job.alpha, preserve_color=job.preserve_color, content_size=job.size, style_size=self.limits.style_size,
                              method=job.method, refine=job.refine)
        meta = output_meta(self.networks(job.model), opts, content={"name": job.content.label, "sha256": job.content.digest}, info=info,
                           styles=[{"name": s.label, "sha256": s.digest} for s in job.styles], size=(h, w))
        return encode_image(out, job.format, meta), hits
