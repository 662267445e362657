"""The package layout: the tensor core loads no codecs, progress bars or servers; the layers drawn in the docs are the contract."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import tomllib

APP_ONLY = ("PIL", "tqdm", "fastapi", "uvicorn", "av")


def loaded_by(statement: str) -> set[str]:
    """Top-level packages among ``APP_ONLY`` that ``statement`` imports in a fresh interpreter, beyond ``import torch``.

    torch itself imports tqdm (through torch.hub), so what counts is what adain adds.
    """
    code = (
        "import sys, torch\n"
        "before = set(sys.modules)\n"
        f"{statement}\n"
        "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return set(out) & set(APP_ONLY)


def test_the_tensor_core_loads_no_codec_progress_bar_or_server():
    assert loaded_by("import adain.ops, adain.stylizer") == set()
    assert loaded_by("import adain; adain.Stylizer, adain.mean_std") == set()


def test_the_check_sees_an_app_import():
    # the probe itself works: the file app does load the image codec
    assert "PIL" in loaded_by("import adain.apps.files")


def test_the_readme_import_paths_work():
    import adain
    from adain import Stylizer, load_image, save_image

    assert Stylizer is adain.stylizer.Stylizer and load_image is adain.io.images.load_image and save_image is adain.io.images.save_image


def test_python_dash_m_runs_the_command_line():
    out = subprocess.run([sys.executable, "-m", "adain.cli", "--help"], capture_output=True, text=True, check=True).stdout
    assert "stylize-dataset" in out


def test_the_architecture_document_names_every_module():
    """docs/architecture.md's table ("What lives where") names each module of the package, in backticks, by its path
    below ``adain/`` (``apps/files``), a package by its folder (``lite/``) with each of its modules in the row."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "architecture.md").read_text()
    table = text[text.index("## What lives where"):text.index("## The protocol of a stylization")]
    named = set(re.findall(r"`([a-z_/]+)`", table))
    missing = []
    for path in sorted((root / "src" / "adain").rglob("*.py")):
        rel = path.relative_to(root / "src" / "adain").with_suffix("").as_posix()
        if rel == "__init__" or (rel.endswith("/__init__") and any(n.startswith(rel[: -len("__init__")]) for n in named)):
            continue  # the package itself, or a sub-package whose modules are named
        folder = rel.rsplit("/", 1)[0] + "/" if "/" in rel else None
        if rel not in named and not (folder in named and rel.rsplit("/", 1)[1] in named):
            missing.append(rel)
    assert not missing, f"modules docs/architecture.md does not name: {missing}"


def test_the_architecture_document_draws_the_layers_of_the_contract():
    """docs/architecture.md's diagram lists pyproject.toml's layers contract, layer by layer, in order."""
    root = Path(__file__).resolve().parents[1]
    contract = next(c for c in tomllib.loads((root / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"] if c["type"] == "layers")
    text = (root / "docs" / "architecture.md").read_text()
    diagram = text[text.index("## Layers"):text.index("**The lite model.**")]
    drawn = [" ".join(re.findall(r"(?<= )[|:](?= )|adain\.[a-z_.]+", block)) for block in diagram.split("```")[1].split("│")]
    assert drawn == [" ".join(re.findall(r"[|:]|adain\.[a-z_.]+", layer)) for layer in contract["layers"]]


def test_no_test_module_imports_another():
    """Shared helpers live in tests/helpers.py and fixtures in tests/conftest.py; test modules import neither each other nor conftest."""
    tests = Path(__file__).resolve().parent
    offenders = [
        f"{path.name}: {line.strip()}"
        for path in sorted(tests.glob("*.py"))
        for line in path.read_text().splitlines()
        if re.match(r"\s*(from|import)\s+(test_\w+|conftest)\b", line)
    ]
    assert not offenders, offenders
