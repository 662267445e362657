"""``adain serve``: the web page and HTTP API."""

from __future__ import annotations

import argparse

from adain.cli._options import add_command, add_model_options, defaults_of

LIMIT = defaults_of("adain.apps.server:Limits")


SERVE_EXAMPLES = """examples:
  adain serve                                   # http://127.0.0.1:8000/ (page), /openapi.json (API schema)
  adain serve --host 0.0.0.0 --port 8080        # reachable from other machines
  adain serve --max-size 768 --queue 8 --max-upload-mb 10
  curl -F content=@photo.jpg -F style_name=hokusai -F alpha=0.8 -o out.png http://127.0.0.1:8000/api/stylize
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(
        sub,
        "serve",
        help="web page and HTTP API",
        description="Serve the web page (/) and the HTTP API (/api/stylize, schema at /openapi.json) over one model loaded once.",
        epilog=SERVE_EXAMPLES,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="(default %(default)s)")
    add_model_options(p)
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest request body in MiB (default %(default)s)")
    p.add_argument("--max-size", type=int, default=LIMIT("max_size"), help="largest output shorter side a request may ask for (default %(default)s)")
    p.add_argument("--max-styles", type=int, default=LIMIT("max_styles"), help="styles per request (default %(default)s)")
    p.add_argument("--queue", type=int, default=LIMIT("queue"), help="requests waiting or running before 503 (default %(default)s)")
    p.add_argument("--cache", type=int, default=LIMIT("cache"), help="encoded styles kept in memory (default %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from adain.apps.server import Limits, serve

    limits = Limits(max_upload_bytes=int(args.max_upload_mb * 2**20), max_size=args.max_size, max_styles=args.max_styles, queue=args.queue, cache=args.cache)
    serve(args.host, args.port, decoder=args.decoder, device=args.device, limits=limits)
