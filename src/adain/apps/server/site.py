"""The static site: the page and its files, the bundled examples, the exported models, and a copy for static hosts.

The page (``adain/static``) loads nothing from elsewhere, so it works offline. With the ONNX
export (``/models/``) or the lite model's graphs (``/lite/``) it may compute in the browser; the
cross-origin isolation headers of :class:`Isolated` let its WebAssembly runtime use threads.
"""

import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adain.apps.server.limits import Limits
from adain.apps.server.schemas import Example, Info
from adain.errors import InputError
from adain.io.images import EXAMPLES, bundled_examples
from adain.lite.weights import WEIGHTS_DIR

PACKAGE = Path(__file__).parents[2]  # src/adain: static/
STATIC = PACKAGE / "static"


class Isolated:
    """ASGI middleware: cross-origin isolation headers, so the page's WebAssembly runtime may use threads."""

    HEADERS = ((b"cross-origin-opener-policy", b"same-origin"), (b"cross-origin-embedder-policy", b"require-corp"))

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


async def page() -> FileResponse:
    """``GET /``: the page."""
    return FileResponse(STATIC / "index.html")


async def lite_manifest_file(request: Request) -> JSONResponse:
    """``GET /lite/manifest.json``: the lite model's graphs, for the page."""
    return JSONResponse(request.app.state.lite)


async def lite_graph(name: str, request: Request) -> FileResponse:
    """``GET /lite/<name>``: one graph of the lite model's manifest (nothing else of its folder)."""
    files = {entry["path"] for entry in request.app.state.lite["files"].values()}
    if name not in files:
        raise HTTPException(404, "not found")
    return FileResponse(WEIGHTS_DIR / name, media_type="application/octet-stream")


def mount_site(app: FastAPI, models: str | Path | None, lite: dict[str, Any] | None) -> None:
    """Serve the page at ``/``, its files, the ONNX export ``models`` and the ``lite`` graphs (where given), and the examples."""
    app.get("/", include_in_schema=False)(page)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if models is not None:
        app.mount("/models", StaticFiles(directory=models), name="models")
    app.state.lite = lite
    if lite is not None:
        app.get("/lite/manifest.json", include_in_schema=False)(lite_manifest_file)
        app.get("/lite/{name}", include_in_schema=False)(lite_graph)
    app.mount("/examples/style", StaticFiles(directory=EXAMPLES / "style"), name="example-styles")
    app.mount("/examples/content", StaticFiles(directory=EXAMPLES / "content"), name="example-contents")


def server_info(limits: Limits, styles: dict[str, Path], contents: dict[str, Path], models: bool, lite: bool) -> Info:
    """``GET /api/info`` of the server: the bundled ``styles`` and ``contents``, the limits, the manifests the page may load."""
    return Info(
        styles=[Example(name=n, url=f"/examples/style/{p.name}") for n, p in styles.items()],
        contents=[Example(name=n, url=f"/examples/content/{p.name}") for n, p in contents.items()],
        limits=asdict(limits),
        models="models/manifest.json" if models else None,
        lite="lite/manifest.json" if lite else None,
    )


def site_info(limits: Limits | None = None) -> Info:
    """``api/info`` of a static site: relative URLs, the models beside the page, no server."""
    return Info(
        styles=[Example(name=n, url=f"examples/style/{p.name}") for n, p in bundled_examples("style").items()],
        contents=[Example(name=n, url=f"examples/content/{p.name}") for n, p in bundled_examples("content").items()],
        limits=asdict(limits or Limits()),
        models="models/manifest.json",
        server=False,
    )


def write_site(folder: str | Path, limits: Limits | None = None) -> None:
    """Write the page for a static host into ``folder``: ``index.html``, ``static/``, ``examples/`` and
    ``api/info``; the page computes in the browser with the models it expects in ``folder/models/``."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    for name, source in (("static", STATIC), ("examples", EXAMPLES)):
        shutil.copytree(source, folder / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(STATIC / "index.html", folder / "index.html")
    (folder / "api").mkdir(exist_ok=True)
    (folder / "api" / "info").write_text(site_info(limits).model_dump_json(indent=2) + "\n")
