"""``adain train``: train a decoder, or distil the lite model."""

from __future__ import annotations

import argparse
from pathlib import Path

from adain.cli._options import add_command, defaults_of

CONFIG = defaults_of("adain.training.config:TrainConfig")

TRAIN_EXAMPLES = """examples:
  adain train --content photos/ --style paintings/                # the paper's recipe
  adain train --content photos/ --style paintings/ --size 256 --crop 128 --lr 2e-4 --out runs/cpu
  adain train --content photos/ --style paintings/ --out runs/cpu --resume   # continue
  adain train --content photos/ --style paintings/ --size 512 --min-size 256 --crop 128   # scale augmentation
  adain train --model lite --content photos/ --style paintings/ --size 256 --crop 128 --out runs/lite   # distil the lite model
  torchrun --nproc-per-node 4 -m adain.cli train --content photos/ --style paintings/   # 4 GPUs (DDP)
"""



def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "train",
        help="train a decoder (or the lite model)",
        description="Train the AdaIN decoder with L = Lc + λ·Ls (defaults: the paper's recipe).",
        epilog=TRAIN_EXAMPLES,
    )
    p.add_argument("--model", choices=("full", "lite"), default=CONFIG("model"),
                   help="what to train: the full model's decoder, or the lite network distilled from the full model (default %(default)s)")
    p.add_argument("--distill-weight", type=float, default=CONFIG("distill_weight"),
                   help="lite model: β in Lc + λ·Ls + β·Ld, Ld the mean absolute pixel difference to the full model's image (default %(default)s)")
    p.add_argument("--content", type=Path, required=True, help="folder of content photos (searched recursively)")
    p.add_argument("--style", type=Path, required=True, help="folder of style images (searched recursively)")
    p.add_argument("--out", type=Path, default=CONFIG("out"), help="run folder: checkpoint, decoder, log.csv, samples/ (default %(default)s)")
    p.add_argument("--steps", type=int, default=CONFIG("steps"), help="total steps (default %(default)s)")
    p.add_argument("--batch", type=int, default=CONFIG("batch"), help="images per step and process (default %(default)s)")
    p.add_argument("--size", type=int, default=CONFIG("size"), help="resize the shorter side to this before cropping (default %(default)s)")
    p.add_argument("--min-size", type=int, default=CONFIG("min_size"),
                   help="scale augmentation: each crop sees its image with the shorter side at a random size between this and "
                        "--size (log-uniform; default 0: always --size)")
    p.add_argument("--crop", type=int, default=CONFIG("crop"), help="random crop side (default %(default)s)")
    p.add_argument("--lr", type=float, default=CONFIG("lr"), help="Adam learning rate (default %(default)s)")
    p.add_argument("--lr-decay", type=float, default=CONFIG("lr_decay"), help="lr / (1 + decay·step) (default %(default)s)")
    p.add_argument("--style-weight", type=float, default=CONFIG("style_weight"), help="λ in Lc + λ·Ls (default %(default)s)")
    p.add_argument("--style-balance", metavar="{uniform,channels}", default=CONFIG("style_balance"),
                   help="weights of the style loss's layers: uniform (the PyTorch port) or by channel count, as the original "
                        "(0.27, 0.53, 1.07, 2.13 × λ for relu1_1..relu4_1; default %(default)s)")
    p.add_argument("--seed", type=int, default=CONFIG("seed"))
    p.add_argument("--device", default=CONFIG("device"), help="auto, cpu or cuda (default %(default)s)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast (default: on CUDA and on CPUs with native bf16)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                   help="channels_last memory format (default on: 1.5x faster with bf16 on this project's CPU)")
    p.add_argument("--compile", action="store_true", help="torch.compile the decoder")
    p.add_argument("--cache-images", action="store_true",
                   help="keep the resized training images in memory (about 3·size² bytes each): for GPUs and small data sets")
    p.add_argument("--ema", type=float, default=CONFIG("ema"), metavar="DECAY",
                   help="also keep an exponential moving average of the weights with this decay (e.g. 0.999) and export it as "
                        "OUT/decoder-ema.safetensors (default: off)")
    p.add_argument("--init", type=Path, help="start from these decoder weights (.safetensors) instead of scratch")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if present")
    p.add_argument("--max-minutes", type=float, default=CONFIG("max_minutes"), help="stop (and save) after this wall-clock budget (0: no limit)")
    p.add_argument("--save-every", type=int, default=CONFIG("save_every"), help="checkpoint every N steps (default %(default)s)")
    p.add_argument("--sample-every", type=int, default=CONFIG("sample_every"), help="write a sample grid every N steps (default %(default)s)")
    p.add_argument("--log-every", type=int, default=CONFIG("log_every"), help="append to log.csv every N steps (default %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from adain.training.train import TrainConfig, train

    cfg = TrainConfig(  # checks every option (one line naming it) before anything loads
        content=args.content, style=args.style, out=args.out, steps=args.steps, batch=args.batch, size=args.size, min_size=args.min_size,
        crop=args.crop, lr=args.lr, lr_decay=args.lr_decay, style_weight=args.style_weight, style_balance=args.style_balance, seed=args.seed,
        device=args.device, bf16=args.bf16, channels_last=args.channels_last, compile=args.compile, cache_images=args.cache_images,
        ema=args.ema, init=args.init, model=args.model, distill_weight=args.distill_weight,
        resume=args.resume, max_minutes=args.max_minutes, save_every=args.save_every, sample_every=args.sample_every,
        log_every=args.log_every,
    )
    path = train(cfg)
    print(f"weights: {path}")
