"""In-browser stylization time (onnxruntime-web, WebAssembly, headless Chromium) against the server path,
the same page, photo and painting, measured side by side in one run.

    python scripts/bench_browser.py --models /tmp/adain-onnx/fp32 --sizes 256 512 --repeat 2
    python scripts/bench_browser.py --model lite --sizes 512 --repeat 3      # the lite model (shipped)

Needs Chromium at /usr/bin/chromium, Playwright, and for the full model an export folder (adain export --format onnx).
Prints JSON: per size and path, the first run (the browser also downloads and prepares the models
and encodes the painting) and the median of the later ones (the painting's statistics cached).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from adain.apps.server import create_app
from adain.device import hardware_name
from adain.stylizer import Stylizer
from test_browser import CHROMIUM, live_server


def run_once(page, where: str) -> float:
    """Click Stylize and wait for the result; wall seconds from the click."""
    page.check(f"#where-{where}")
    page.evaluate("document.querySelector('#status').textContent = ''")
    started = time.perf_counter()
    page.click("#go")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('Done')", timeout=600_000)
    elapsed = time.perf_counter() - started
    if not page.is_hidden("#error"):
        raise RuntimeError(page.text_content("#error"))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, help="the full model's export folder (--model full)")
    parser.add_argument("--model", choices=("full", "lite"), default="full")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--repeat", type=int, default=2, help="runs after the first one, per size and path")
    parser.add_argument("--content", default="canyon")
    parser.add_argument("--style", default="hokusai")
    args = parser.parse_args()
    if args.model == "full" and args.models is None:
        parser.error("--model full needs --models DIR (adain export --format onnx --output DIR)")

    result = {"cpu": hardware_name(torch.device("cpu")), "model": args.model, "models": str(args.models), "rows": []}
    with live_server(create_app(Stylizer(device="cpu"), models=args.models)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        result["chromium"] = browser.version
        page = browser.new_page()
        page.set_default_timeout(600_000)  # a busy machine: the first model load and encodings take minutes
        page.goto(url)
        page.wait_for_selector("#styles .tile.selected")
        result["threads"] = page.evaluate("self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency) : 1")
        page.click(f"#contents .tile[data-name='{args.content}']")
        page.click(f"#styles .tile[title='{args.style}']") if args.style != "hokusai" else None
        page.select_option("#model", args.model)
        for size in args.sizes:
            page.select_option("#size", str(size))
            row = {"size": size}
            for where in ("browser", "server"):
                first = run_once(page, where)
                later = [run_once(page, where) for _ in range(args.repeat)]
                row[where] = {"first_s": round(first, 2), "median_s": round(statistics.median(later), 2) if later else None}
            row["output"] = page.evaluate("[document.querySelector('#result').naturalWidth, document.querySelector('#result').naturalHeight]")
            result["rows"].append(row)
            print(json.dumps(row), flush=True)
        browser.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
