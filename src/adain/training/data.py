"""Training data: random crops from folders of images, reproducible from a generator.

Sampling is done in the training process from a ``torch.Generator`` whose
state is saved in checkpoints, so a resumed run draws exactly the batches an
uninterrupted run would have drawn.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from adain.errors import InputError, UsageError
from adain.io.images import load_pil


def resize_for_crops(img: Image.Image, *, size: int, crop: int) -> Tensor:
    """Resize the shorter side to ``size`` (up or down, bicubic), at least ``crop`` on each side.

    Returns:
        ``(3, H, W)`` uint8, ``min(H, W) == size``.
    """
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(crop, round(w * scale)), max(crop, round(h * scale))
    arr = np.asarray(img.convert("RGB").resize((nw, nh), Image.BICUBIC, reducing_gap=3.0), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1)


def random_crop(image: Tensor, *, crop: int, gen: torch.Generator) -> Tensor:
    """A random ``crop``×``crop`` patch of a ``(3, H, W)`` uint8 image → ``(3, crop, crop)`` float32 in [0, 1]."""
    h, w = image.shape[-2:]
    x = int(torch.randint(0, w - crop + 1, (1,), generator=gen))
    y = int(torch.randint(0, h - crop + 1, (1,), generator=gen))
    return image[:, y : y + crop, x : x + crop].float().div_(255.0)


def random_scaled_crop(image: Tensor, *, crop: int, min_size: int, gen: torch.Generator) -> Tensor:
    """A random ``crop``×``crop`` patch of ``image`` seen at a random smaller scale (scale augmentation).

    ``image`` has its shorter side at the full size ``S = min(H, W)``; the scale puts that side at a
    log-uniform random size ``s`` in ``[min_size, S]``, i.e. a random window of side ``crop·S/s`` is
    resized (antialiased) to ``crop``.

    Args:
        image: ``(3, H, W)`` uint8.
        crop: output side, at most ``min_size``.
        min_size: the smallest shorter side the image is seen at.

    Returns:
        ``(3, crop, crop)`` float32 in [0, 1].

    Example:
        >>> image = torch.zeros(3, 64, 80, dtype=torch.uint8)
        >>> random_scaled_crop(image, crop=16, min_size=32, gen=torch.Generator()).shape
        torch.Size([3, 16, 16])
    """
    full = min(image.shape[-2:])
    assert crop <= min_size <= full, f"need crop ({crop}) <= min_size ({min_size}) <= shorter side ({full})"
    u = float(torch.rand((), generator=gen))
    shorter = math.exp(math.log(min_size) + u * (math.log(full) - math.log(min_size)))
    window = min(full, round(crop * full / shorter))
    patch = random_crop(image, crop=window, gen=gen)
    if window == crop:
        return patch
    return F.interpolate(patch[None], size=(crop, crop), mode="bilinear", antialias=True, align_corners=False)[0].clamp_(0, 1)


class CropSampler:
    """Draws batches of random crops from a list of image files.

    Unreadable files are reported once on stderr and skipped. With ``cache``,
    each image is decoded and resized once and kept in memory as uint8
    (``3·size·size·aspect`` bytes each): the same batches, no decoding after the
    first epoch (for GPUs, which outrun the decoding of 16 images a step).

    Args:
        files: image paths.
        size: shorter side after resizing (paper: 512).
        crop: crop side (paper: 256).
        cache: keep the resized images in memory.
        min_size: with a value below ``size``, scale augmentation: each crop sees its image with the
            shorter side at a random size between ``min_size`` and ``size`` (:func:`random_scaled_crop`).
    """

    def __init__(self, files: list[Path], *, size: int, crop: int, cache: bool = False, min_size: int | None = None) -> None:
        if crop > size:
            raise UsageError(f"crop ({crop}) must not exceed the resize size ({size})")
        if min_size is not None and not crop <= min_size <= size:
            raise UsageError(f"the smallest size ({min_size}) must be between the crop ({crop}) and the size ({size})")
        self.files, self.size, self.crop = list(files), size, crop
        self.min_size = min_size if min_size is not None and min_size < size else None
        self.cache: dict[int, Tensor] | None = {} if cache else None
        self.bad: set[int] = set()

    def _image(self, i: int) -> Tensor | None:
        """File ``i`` resized, ``(3, H, W)`` uint8; ``None`` if it cannot be read."""
        if self.cache is not None and i in self.cache:
            return self.cache[i]
        try:
            image = resize_for_crops(load_pil(self.files[i]), size=self.size, crop=self.crop)
        except InputError as exc:
            self.bad.add(i)
            print(f"skipping {exc}", file=sys.stderr)
            if len(self.bad) == len(self.files):
                raise InputError(f"none of the {len(self.files)} training images can be read") from None
            return None
        if self.cache is not None:
            self.cache[i] = image
        return image

    def _crop(self, image: Tensor, gen: torch.Generator) -> Tensor:
        if self.min_size is None:
            return random_crop(image, crop=self.crop, gen=gen)
        return random_scaled_crop(image, crop=self.crop, min_size=self.min_size, gen=gen)

    def batch(self, n: int, gen: torch.Generator) -> Tensor:
        """``(n, 3, crop, crop)`` float32 in [0, 1], drawn with ``gen`` (its state decides the batch)."""
        out = []
        while len(out) < n:
            i = int(torch.randint(0, len(self.files), (1,), generator=gen))
            if i in self.bad:
                continue
            image = self._image(i)
            if image is not None:
                out.append(self._crop(image, gen))
        return torch.stack(out)
