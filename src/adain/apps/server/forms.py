"""The forms of ``POST /api/stylize`` and ``POST /api/texture``: their fields, checks, and the jobs they make.

A form's fields are the explicit ``Form``/``File`` parameters of a FastAPI dependency built per app
(their ranges and help name the app's limits and bundled examples), which hands the route one
:class:`StylizeForm` or :class:`TextureForm`; the OpenAPI schema shows them as the route's body.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from fastapi import File, Form, UploadFile

from adain.apps.masks import check_mask_count
from adain.apps.server.limits import Limits
from adain.apps.server.uploads import Job, TextureJob, Uploads, save_upload
from adain.controls import check_weights_or_masks
from adain.errors import InputError, UsageError
from adain.limits import MIN_SIDE
from adain.names import Method
from adain.refine import REFINE_STEPS as STYLIZE_REFINE_STEPS
from adain.texture import SEEDS, check_texture_size

Format = Literal["png", "jpeg", "webp"]  # the keys of adain.apps.server.service.FORMATS
PreserveChoice = Literal["none", "color", "luminance"]
Model = Literal["full", "lite"]


def check_counts(n_content: int, n_styles: int, n_masks: int, n_weights: int, limits: Limits) -> None:
    """Validate how many inputs of each kind a request has (before anything is decoded)."""
    if n_content != 1:
        raise InputError("give exactly one content image: a 'content' file or a 'content_name'")
    if n_styles == 0:
        raise InputError("give at least one style: a 'style' file or a 'style_name'")
    if n_styles > limits.max_styles:
        raise InputError(f"{n_styles} styles given, the limit is {limits.max_styles}")
    check_mask_count(n_masks, n_styles)
    if n_weights and n_weights != n_styles:
        raise InputError(f"{n_weights} weights given for {n_styles} styles")
    check_weights_or_masks(n_weights or None, n_masks or None)


@dataclass(frozen=True)
class StylizeForm:
    """The fields of ``POST /api/stylize``, as sent (see :func:`stylize_form` for their meaning)."""

    content: UploadFile | None
    content_name: str | None
    style: list[UploadFile]
    style_name: list[str]
    weight: list[float]
    mask: list[UploadFile]
    alpha: float
    preserve_color: PreserveChoice
    size: int
    format: Format
    method: Method
    model: Model
    refine: int

    def check(self, limits: Limits) -> None:
        """How many of each input, and what the lite model cannot do (before any file is written)."""
        n_content = (self.content is not None) + (self.content_name is not None)
        check_counts(n_content, len(self.style_name) + len(self.style), len(self.mask), len(self.weight), limits)
        if self.model == "lite" and self.method != "adain":
            raise UsageError(f"the lite model transfers with adain only, not {self.method}")

    async def job(self, uploads: Uploads, folder: Path) -> Job:
        """The job: uploads written into ``folder``, bundled names looked up; styles named first, then uploaded."""
        if self.content is not None:
            content = await save_upload(self.content, folder, "content", "content")
        else:
            content = uploads.bundled(self.content_name or "", "content")
        styles = [uploads.bundled(n, "style") for n in self.style_name]
        styles += [await save_upload(f, folder, f"style{i}", f"style {len(self.style_name) + i + 1}") for i, f in enumerate(self.style)]
        masks = [await save_upload(f, folder, f"mask{i}", f"mask {i + 1}") for i, f in enumerate(self.mask)]
        return Job(
            content=content, styles=styles, masks=masks, weights=self.weight or None, alpha=self.alpha,
            preserve_color=None if self.preserve_color == "none" else self.preserve_color, size=self.size, format=self.format,
            method=self.method, model=self.model, refine=self.refine,
        )

    def stem(self) -> str:
        """The content's name, safe in a file name: the output is ``adain-<stem>.<format>``."""
        name = Path(self.content.filename or "content").stem if self.content is not None else self.content_name or ""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def stylize_form(limits: Limits, contents: dict[str, Path], styles: dict[str, Path]) -> Callable[..., StylizeForm]:
    """The dependency that reads a :class:`StylizeForm`, its ranges from ``limits``, its help naming the bundled examples."""
    max_refine = min(limits.max_refine, STYLIZE_REFINE_STEPS[-1])

    def read_stylize_form(
        content: Annotated[UploadFile | None, File(description="content image (or use content_name)")] = None,
        content_name: Annotated[str | None, Form(description=f"a bundled photo: {', '.join(contents)}")] = None,
        style: Annotated[list[UploadFile], File(description="style images, in order after the style_name ones")] = [],  # noqa: B006 (FastAPI copies defaults)
        style_name: Annotated[list[str], Form(description=f"bundled styles, first in order: {', '.join(styles)}")] = [],  # noqa: B006
        weight: Annotated[list[float], Form(description="interpolation weights, one per style (default: equal)")] = [],  # noqa: B006
        mask: Annotated[list[UploadFile], File(description="masks (white = the style): one per style, or one fewer and style 1 takes the rest")] = [],  # noqa: B006
        alpha: Annotated[float, Form(ge=0, le=1, description="content–style trade-off: 0 the photo, 1 fully stylized")] = 1.0,
        preserve_color: Annotated[PreserveChoice, Form(description="keep the photo's colours")] = "none",
        size: Annotated[int, Form(ge=0, le=limits.max_size, description="output shorter side in px, 0 keeps the photo's")] = 512,
        format: Annotated[Format, Form(description="output format")] = "png",
        method: Annotated[Method, Form(description="transfer method: adain (mean and std), wct (covariance), efdm (histograms)")] = "adain",
        model: Annotated[Model, Form(description="the network: full (the paper's), or lite (the small distilled one: "
                                                 "several times faster, adain only, paintings rather than style files)")] = "full",
        refine: Annotated[int, Form(ge=0, le=max_refine, description="optimisation steps of the paper's losses after the decoder (full model, "
                                    f"paintings only, outputs up to {limits.max_refine_pixels} pixels; seconds per step)")] = 0,
    ) -> StylizeForm:
        return StylizeForm(content, content_name, style, style_name, weight, mask, alpha, preserve_color, size, format, method, model, refine)

    return read_stylize_form


@dataclass(frozen=True)
class TextureForm:
    """The fields of ``POST /api/texture``, as sent (see :func:`texture_form` for their meaning)."""

    style: UploadFile | None
    style_name: str | None
    width: int
    height: int
    seed: int
    tileable: bool
    method: Method
    refine: int
    format: Format

    def check(self, limits: Limits) -> None:
        """Exactly one style, and a size the synthesis takes (before any file is written)."""
        if (self.style is None) == (self.style_name is None):
            raise InputError("give exactly one style image (style or style_name)")
        check_texture_size(self.height, self.width, self.tileable, max_pixels=limits.max_output_pixels)

    async def job(self, uploads: Uploads, folder: Path) -> TextureJob:
        """The job: the uploaded style written into ``folder``, or the bundled one looked up."""
        if self.style is not None:
            source = await save_upload(self.style, folder, "style0", "style 1")
        else:
            source = uploads.bundled(self.style_name or "", "style")
        return TextureJob(source, self.width, self.height, self.seed, self.tileable, self.method, self.refine, self.format)


def texture_form(limits: Limits, styles: dict[str, Path]) -> Callable[..., TextureForm]:
    """The dependency that reads a :class:`TextureForm`, its ranges from ``limits``, its help naming the bundled styles."""

    def read_texture_form(
        style: Annotated[UploadFile | None, File(description="style image (or use style_name)")] = None,
        style_name: Annotated[str | None, Form(description=f"a bundled style: {', '.join(styles)}")] = None,
        width: Annotated[int, Form(ge=MIN_SIDE, le=limits.max_size, description="texture width in px")] = 512,
        height: Annotated[int, Form(ge=MIN_SIDE, le=limits.max_size, description="texture height in px")] = 512,
        seed: Annotated[int, Form(ge=SEEDS[0], le=SEEDS[-1], description="seed of the noise: same seed, same texture")] = 0,
        tileable: Annotated[bool, Form(description="wrap around seamlessly (sides multiples of 8)")] = False,
        method: Annotated[Method, Form(description="transfer method of the style's statistics")] = "adain",
        refine: Annotated[int, Form(ge=0, le=limits.max_refine, description="Gram-loss optimisation steps after decoding")] = 0,
        format: Annotated[Format, Form(description="output format")] = "png",
    ) -> TextureForm:
        return TextureForm(style, style_name, width, height, seed, tileable, method, refine, format)

    return read_texture_form
