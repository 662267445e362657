"""Web page and HTTP API: ``adain serve``.

A FastAPI app over one :class:`~adain.stylizer.Stylizer`, loaded once (and the lite model at its first request). Requests
run on a single worker thread (off the event loop) behind a bounded queue (503
when full); encoded styles are kept in an LRU cache keyed by the SHA-256 of the
style file, so a repeated style costs nothing. Uploads are written to a
per-request temporary folder that is removed before the response is sent.

Endpoints:
    * ``GET /``: the page (``adain/static``), no external asset;
    * ``GET /api/info``: bundled styles and photos, the limits;
    * ``POST /api/stylize``: multipart form in, image out (JSON ``{"detail": ...}`` on error);
    * ``POST /api/texture``: a texture from one style image;
    * ``GET /api/health``: queue and cache counters;
    * ``GET /openapi.json``: the schema.

Modules:
    * :mod:`~adain.apps.server.app`: the app, its routes and dependencies, :func:`serve`;
    * :mod:`~adain.apps.server.forms`: the forms of the two POST routes and their checks;
    * :mod:`~adain.apps.server.uploads`: where a request's files go, its job, its sizes planned from the headers;
    * :mod:`~adain.apps.server.service`: the models, the worker thread and queue, the style cache, the work itself;
    * :mod:`~adain.apps.server.connections`: the connection cap, the request deadline, the body limit, the bounded log;
    * :mod:`~adain.apps.server.site`: the page, its files and examples, the copy for static hosts;
    * :mod:`~adain.apps.server.limits`, :mod:`~adain.apps.server.schemas`: :class:`Limits`; the JSON bodies.
"""

from adain.apps.server.app import create_app, serve, validation_message
from adain.apps.server.connections import BodyLimit, GuardedH11Protocol, LogBudget, run_server, uvicorn_config
from adain.apps.server.forms import StylizeForm, TextureForm, check_counts
from adain.apps.server.limits import Limits, default_connections
from adain.apps.server.schemas import ErrorBody, Example, Health, Info
from adain.apps.server.service import FORMATS, Service, StyleCache, encode_image
from adain.apps.server.site import PACKAGE, STATIC, Isolated, site_info, write_site
from adain.apps.server.uploads import Job, Source, TextureJob, bundled_source, check_planned, load_source, save_upload
from adain.io.images import EXAMPLES

__all__ = [
    "EXAMPLES", "FORMATS", "PACKAGE", "STATIC",
    "BodyLimit", "ErrorBody", "Example", "GuardedH11Protocol", "Health", "Info", "Isolated", "Job", "Limits", "LogBudget",
    "Service", "Source", "StyleCache", "StylizeForm", "TextureForm", "TextureJob",
    "bundled_source", "check_counts", "check_planned", "create_app", "default_connections", "encode_image",
    "load_source", "run_server", "save_upload", "serve", "site_info", "uvicorn_config", "validation_message", "write_site",
]
