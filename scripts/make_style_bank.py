"""Write the style files of the bundled example styles into src/adain/styles/ (run after changing the encoder).

    python scripts/make_style_bank.py

Each painting in src/adain/examples/style/ is resized to the default style size (512 px shorter
side, as ``adain stylize``) and encoded in fp32 on the CPU, so the files do not depend on the
machine that made them.
"""

from __future__ import annotations

from pathlib import Path

from adain.apps.files import StylizeOptions, load_style
from adain.io.provenance import source_entry
from adain.io.stylefile import BANK, compute_style, save_style
from adain.stylizer import Stylizer

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "adain" / "examples" / "style"


def main() -> None:
    opts = StylizeOptions()
    stylizer = Stylizer(device="cpu", bf16=False)
    for path in sorted(EXAMPLES.glob("*.jpg")):
        style = compute_style(stylizer, load_style(path, opts), source_entry(path), opts.style_size)
        out = save_style(style, BANK / f"{path.stem}.safetensors")
        print(f"{out}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
