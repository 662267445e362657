"""Training data: random crops from folders of images, reproducible from a generator.

Sampling is done in the training process from a ``torch.Generator`` whose
state is saved in checkpoints, so a resumed run draws exactly the batches an
uninterrupted run would have drawn.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from adain.errors import InputError, UsageError
from adain.io import load_pil


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
    """

    def __init__(self, files: list[Path], *, size: int, crop: int, cache: bool = False) -> None:
        if crop > size:
            raise UsageError(f"crop ({crop}) must not exceed the resize size ({size})")
        self.files, self.size, self.crop = list(files), size, crop
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

    def batch(self, n: int, gen: torch.Generator) -> Tensor:
        """``(n, 3, crop, crop)`` float32 in [0, 1], drawn with ``gen`` (its state decides the batch)."""
        out = []
        while len(out) < n:
            i = int(torch.randint(0, len(self.files), (1,), generator=gen))
            if i in self.bad:
                continue
            image = self._image(i)
            if image is not None:
                out.append(random_crop(image, crop=self.crop, gen=gen))
        return torch.stack(out)
