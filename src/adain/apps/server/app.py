"""The FastAPI app of ``adain serve``: its routes, error answers and dependencies, and :func:`serve`."""

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from adain.apps.server.connections import BodyLimit, run_server
from adain.apps.server.forms import StylizeForm, TextureForm, stylize_form, texture_form
from adain.apps.server.limits import Limits
from adain.apps.server.schemas import ErrorBody, Health, Info
from adain.apps.server.service import FORMATS, Service
from adain.apps.server.site import Isolated, mount_site, server_info
from adain.apps.server.uploads import Uploads
from adain.errors import AdainError
from adain.io.images import bundled_examples
from adain.lite.weights import lite_manifest
from adain.stylizer import Stylizer

ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "bad image or bad parameters"},
    413: {"model": ErrorBody, "description": "upload over the size limit"},
    422: {"model": ErrorBody, "description": "a parameter of the wrong type or out of range"},
    503: {"model": ErrorBody, "description": "the queue is full: retry after a few seconds"},
}
IMAGE_TYPES = {mime: {"schema": {"type": "string", "format": "binary"}} for _, mime in FORMATS.values()}


def get_service(request: Request) -> Service:
    """The app's :class:`~adain.apps.server.service.Service` (a dependency of the routes)."""
    return request.app.state.service


def get_uploads(request: Request) -> Uploads:
    """Where the app's requests put their files, and the examples they may name (a dependency of the routes)."""
    return request.app.state.uploads


ServiceDep = Annotated[Service, Depends(get_service)]
UploadsDep = Annotated[Uploads, Depends(get_uploads)]


def validation_message(exc: RequestValidationError) -> str:
    """FastAPI's list of validation errors → one line, ``field: problem; …``."""
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


async def bad_input(_: Request, exc: Exception) -> JSONResponse:
    """An :class:`~adain.errors.AdainError` → 400 with its message."""
    return JSONResponse({"detail": str(exc)}, status_code=400)


async def bad_parameter(_: Request, exc: RequestValidationError) -> JSONResponse:
    """A parameter of the wrong type or out of range → 422 with one line."""
    return JSONResponse({"detail": validation_message(exc)}, status_code=422)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Stop the worker thread when the app shuts down."""
    yield
    app.state.service.close()


def image_response(data: bytes, fmt: str, filename: str, started: float, extra: dict[str, str] | None = None) -> Response:
    """An image answer: inline as ``filename``, with the time it took since ``started`` (``time.perf_counter``)."""
    headers = {"Content-Disposition": f'inline; filename="{filename}"', **(extra or {}),
               "X-Elapsed-Seconds": f"{time.perf_counter() - started:.3f}"}
    return Response(data, media_type=FORMATS[fmt][1], headers=headers)


async def stylized(form: StylizeForm, service: Service, uploads: Uploads) -> Response:
    """``POST /api/stylize``: check the form, write its files, run its job, answer the image."""
    form.check(service.limits)
    started = time.perf_counter()
    with uploads.folder() as folder:
        job = await form.job(uploads, Path(folder))
        data, hits = await service.run(job)
    cache = {"X-Style-Cache": ",".join("hit" if h else "miss" for h in hits)}
    return image_response(data, form.format, f"adain-{form.stem()}.{form.format}", started, cache)


async def textured(form: TextureForm, service: Service, uploads: Uploads) -> Response:
    """``POST /api/texture``: check the form, write its file, make the texture, answer the image."""
    form.check(service.limits)
    started = time.perf_counter()
    with uploads.folder() as folder:
        job = await form.job(uploads, Path(folder))
        data = await service.queued(service.texture, job)
    return image_response(data, form.format, f"adain-texture-{form.seed}.{form.format}", started)


# A route's docstring would become its description in the schema: the routes have comments instead.


async def info(request: Request) -> Info:
    # GET /api/info: the bundled styles and photos, and the limits
    return request.app.state.info


async def health(service: ServiceDep) -> Health:
    # GET /api/health: the queue and the style cache
    cache = service.cache
    return Health(status="ok", pending=service.pending, queue=service.limits.queue, cache_size=len(cache.items), cache_hits=cache.hits,
                  cache_misses=cache.misses)


def add_api_routes(app: FastAPI, read_stylize: Callable[..., StylizeForm], read_texture: Callable[..., TextureForm]) -> None:
    """``/api/stylize`` and ``/api/texture`` (their forms read by ``read_stylize`` and ``read_texture``), ``/api/info``, ``/api/health``.

    The two POST routes are made here because their forms' ranges depend on the app's limits; their
    names make the schema's operation ids (``stylize_api_stylize_post``) and body names.
    """

    @app.post("/api/stylize", response_class=Response, summary="Stylize a content image",
              responses={200: {"content": IMAGE_TYPES, "description": "the stylized image"}, **ERRORS})
    async def stylize(form: Annotated[StylizeForm, Depends(read_stylize)], service: ServiceDep, uploads: UploadsDep) -> Response:
        return await stylized(form, service, uploads)

    @app.post("/api/texture", response_class=Response, summary="Make a texture from a style image",
              responses={200: {"content": IMAGE_TYPES, "description": "the texture"}, **ERRORS})
    async def texture(form: Annotated[TextureForm, Depends(read_texture)], service: ServiceDep, uploads: UploadsDep) -> Response:
        return await textured(form, service, uploads)

    app.get("/api/info", summary="Bundled styles and photos, and the limits")(info)
    app.get("/api/health", summary="Queue and cache counters")(health)


def create_app(
    stylizer: Stylizer | None = None,
    *,
    limits: Limits | None = None,
    temp_dir: str | Path | None = None,
    models: str | Path | None = None,
    compile: bool | None = None,
) -> FastAPI:
    """The app: page, API and schema over one model.

    Args:
        stylizer: the model (default: the shipped decoder, loaded now).
        limits: request limits (default :class:`~adain.apps.server.limits.Limits`).
        temp_dir: where per-request temp folders go (default: the system's).
        models: an ONNX export folder (``adain export --format onnx``), served at ``/models/`` for the
            page to compute in the browser; checked now.
        compile: ``torch.compile`` the networks for the requests' content shapes (a few at most), on a thread of
            its own while requests of that shape run eagerly: ``True`` at a shape's first request, ``False``
            never, ``None`` once its requests so far, taken as as many again to come, repay it
            (:class:`adain.apps.compiling.CompileRule`; a torch Stylizer only). A failed compilation logs one line.
    """
    limits = limits or Limits()
    if models is not None:
        from adain.onnx.runtime import read_manifest

        read_manifest(models)
    service = Service(stylizer or Stylizer(), limits, compile)
    lite = lite_manifest()
    styles, contents = bundled_examples("style"), bundled_examples("content")
    app = FastAPI(
        title="adain",
        summary="Arbitrary style transfer with AdaIN (Huang & Belongie, 2017)",
        version="0.1.0",
        docs_url=None,  # Swagger UI and ReDoc load from a CDN: the page works offline, the schema is at /openapi.json
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.uploads = Uploads(temp_dir, styles, contents)
    app.state.info = server_info(limits, styles, contents, models is not None, lite is not None)
    app.add_middleware(BodyLimit, max_bytes=limits.max_upload_bytes)
    app.add_middleware(Isolated)
    app.exception_handler(AdainError)(bad_input)
    app.exception_handler(RequestValidationError)(bad_parameter)
    add_api_routes(app, stylize_form(limits, contents, styles), texture_form(limits, styles))
    mount_site(app, models, lite)
    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    stylizer: Stylizer | Callable[[], Stylizer] = Stylizer,
    *,
    limits: Limits | None = None,
    models: str | Path | None = None,
    compile: bool | None = None,
) -> None:
    """Load the model once (``stylizer``, or a function making it) and serve the app under uvicorn until
    interrupted (see :func:`~adain.apps.server.connections.run_server`; ``compile``: see :func:`create_app`)."""
    limits = limits or Limits()
    started = time.perf_counter()
    stylizer = stylizer if isinstance(stylizer, Stylizer) else stylizer()
    print(f"model loaded on {stylizer.device} in {time.perf_counter() - started:.1f} s; open http://{host}:{port}/", flush=True)
    run_server(create_app(stylizer, limits=limits, models=models, compile=compile), host, port, limits)
