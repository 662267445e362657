"""Training data: random crops from folders of images, reproducible from a generator.

Sampling is done in the training process from a ``torch.Generator`` whose
state is saved in checkpoints, so a resumed run draws exactly the batches an
uninterrupted run would have drawn.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from adain.io import IMAGE_SUFFIXES, InputError, load_pil, pil_to_tensor


def find_images(folder: str | Path) -> list[Path]:
    """All image files below a folder (recursively), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if not files:
        raise InputError(f"{folder}: no images found")
    return files


def random_crop(img: Image.Image, *, size: int, crop: int, gen: torch.Generator) -> Tensor:
    """Resize the shorter side to ``size`` (up or down), then take a random ``crop``×``crop`` patch.

    Returns:
        ``(3, crop, crop)`` float32 in [0, 1].
    """
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(crop, round(w * scale)), max(crop, round(h * scale))
    img = img.resize((nw, nh), Image.BICUBIC, reducing_gap=3.0)
    x = int(torch.randint(0, nw - crop + 1, (1,), generator=gen))
    y = int(torch.randint(0, nh - crop + 1, (1,), generator=gen))
    return pil_to_tensor(img.crop((x, y, x + crop, y + crop)))


class CropSampler:
    """Draws batches of random crops from a list of image files.

    Unreadable files are reported once on stderr and skipped.

    Args:
        files: image paths.
        size: shorter side after resizing (paper: 512).
        crop: crop side (paper: 256).
        gen: the random generator (its state is the sampler's state).
    """

    def __init__(self, files: list[Path], *, size: int, crop: int, gen: torch.Generator) -> None:
        if crop > size:
            raise ValueError(f"crop ({crop}) must not exceed the resize size ({size})")
        self.files, self.size, self.crop, self.gen = list(files), size, crop, gen
        self.bad: set[int] = set()

    def batch(self, n: int) -> Tensor:
        """``(n, 3, crop, crop)`` float32 in [0, 1]."""
        out = []
        while len(out) < n:
            i = int(torch.randint(0, len(self.files), (1,), generator=self.gen))
            if i in self.bad:
                continue
            try:
                img = load_pil(self.files[i])
            except InputError as exc:
                self.bad.add(i)
                print(f"skipping {exc}", file=sys.stderr)
                if len(self.bad) == len(self.files):
                    raise InputError(f"none of the {len(self.files)} training images can be read") from None
                continue
            out.append(random_crop(img, size=self.size, crop=self.crop, gen=self.gen))
        return torch.stack(out)
