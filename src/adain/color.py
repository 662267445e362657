"""Colour preservation: the images the networks see, and the result put back in the content's colours.

``preserve_color="color"``: recolour each style image to the content's mean and
covariance of RGB before encoding (as the original); ``"luminance"``: transfer
on luminance only and keep the content's chroma. All images ``(3, H, W)`` in [0, 1].
"""

from __future__ import annotations

from typing import get_args

import torch
from torch import Tensor

from adain.errors import UsageError
from adain.names import PreserveColor

PRESERVE_MODES: tuple[PreserveColor | None, ...] = (None, *get_args(PreserveColor))


def match_color(style: Tensor, content: Tensor, eps: float = 1e-5) -> Tensor:
    """Recolour ``style`` so its RGB mean and covariance equal the content's.

    Args:
        style: ``(3, Hs, Ws)``; content: ``(3, Hc, Wc)``; both in [0, 1].

    Returns:
        ``(3, Hs, Ws)`` clipped to [0, 1].
    """
    s = style.reshape(3, -1).double()
    c = content.reshape(3, -1).double()
    s_mean, c_mean = s.mean(1, keepdim=True), c.mean(1, keepdim=True)
    eye = torch.eye(3, dtype=torch.float64)
    s_cov = torch.cov(s) + eps * eye
    c_cov = torch.cov(c) + eps * eye

    def sqrt_and_inv(m: Tensor) -> tuple[Tensor, Tensor]:
        vals, vecs = torch.linalg.eigh(m)
        vals = vals.clamp_min(eps)
        return vecs @ torch.diag(vals.sqrt()) @ vecs.T, vecs @ torch.diag(vals.rsqrt()) @ vecs.T

    c_sqrt, _ = sqrt_and_inv(c_cov)
    _, s_isqrt = sqrt_and_inv(s_cov)
    out = c_sqrt @ s_isqrt @ (s - s_mean) + c_mean
    return out.float().reshape(style.shape).clamp(0, 1)


_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def rgb_to_yiq(image: Tensor) -> Tensor:
    """``(…, 3, H, W)`` RGB → YIQ."""
    return torch.einsum("ij,...jhw->...ihw", _RGB_TO_YIQ.to(image), image)


def yiq_to_rgb(image: Tensor) -> Tensor:
    """``(…, 3, H, W)`` YIQ → RGB."""
    return torch.einsum("ij,...jhw->...ihw", torch.linalg.inv(_RGB_TO_YIQ).to(image), image)


def luminance_image(image: Tensor, like: Tensor | None = None) -> Tensor:
    """Grey RGB image ``(3, H, W)`` of the luminance; with ``like``, its mean/std are matched to ``like``'s luminance."""
    y = rgb_to_yiq(image)[0]
    if like is not None:
        ly = rgb_to_yiq(like)[0]
        y = (y - y.mean()) / (y.std() + 1e-5) * ly.std() + ly.mean()
    return y.clamp(0, 1).expand(3, -1, -1).contiguous()


def keep_chroma(stylized: Tensor, content: Tensor) -> Tensor:
    """Luminance of ``stylized`` with the chroma (I, Q) of ``content``, both ``(3, H, W)``."""
    out = torch.cat([rgb_to_yiq(stylized)[:1], rgb_to_yiq(content)[1:]], dim=0)
    return yiq_to_rgb(out).clamp(0, 1)


def check_preserve_color(preserve_color: str | None) -> PreserveColor | None:
    """``preserve_color`` if it is one of :data:`PRESERVE_MODES`, else :class:`~adain.errors.UsageError`."""
    if preserve_color not in PRESERVE_MODES:
        raise UsageError(f"preserve_color must be one of {PRESERVE_MODES}, got {preserve_color!r}")
    return preserve_color


def style_inputs(styles: list[Tensor], reference: Tensor, preserve_color: PreserveColor | None) -> list[Tensor]:
    """The style images the encoder sees: recoloured to ``reference`` (``"color"``, :func:`match_color`),
    grey with the reference's luminance mean/std (``"luminance"``), or unchanged. All ``(3, H, W)``."""
    if check_preserve_color(preserve_color) == "color":
        return [match_color(s, reference) for s in styles]
    if preserve_color == "luminance":
        return [luminance_image(s, like=reference) for s in styles]
    return list(styles)


def content_inputs(contents: Tensor, preserve_color: PreserveColor | None) -> Tensor:
    """The content images the encoder sees, ``(N, 3, H, W)``: grey luminance in ``"luminance"`` mode, else unchanged."""
    if check_preserve_color(preserve_color) == "luminance":
        return torch.stack([luminance_image(c) for c in contents])
    return contents


def color_outputs(stylized: Tensor, contents: Tensor, preserve_color: PreserveColor | None) -> Tensor:
    """Undo :func:`content_inputs` on results ``(N, 3, H, W)``: luminance mode puts back each content's chroma."""
    if preserve_color == "luminance":
        return torch.stack([keep_chroma(o, c) for o, c in zip(stylized, contents, strict=True)])
    return stylized


def color_inputs(content: Tensor, styles: list[Tensor], preserve_color: str | None) -> tuple[Tensor, list[Tensor]]:
    """The images the networks see under a colour-preservation mode, for one content ``(3, H, W)``.

    ``None``: unchanged; ``"color"``: each style recoloured to the content
    (:func:`match_color`); ``"luminance"``: grey luminance images, the styles'
    luminance matched to the content's mean/std. All images ``(3, H, W)``.
    """
    mode = check_preserve_color(preserve_color)
    return content_inputs(content[None], mode)[0], style_inputs(styles, content, mode)


def color_output(stylized: Tensor, content: Tensor, preserve_color: str | None) -> Tensor:
    """Undo :func:`color_inputs` on a result ``(3, H, W)``: luminance mode puts back the content's chroma."""
    return color_outputs(stylized[None], content[None], check_preserve_color(preserve_color))[0]
