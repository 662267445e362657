"""``adain serve``: the web page and HTTP API."""

from __future__ import annotations

import argparse

from adain.cli._options import (
    add_backend_options,
    add_command,
    add_compile_option,
    add_model_options,
    check_compile,
    defaults_of,
    stylizer_from_args,
)

LIMIT = defaults_of("adain.apps.server:Limits")


SERVE_EXAMPLES = """examples:
  adain serve                                   # http://127.0.0.1:8000/ (page), /openapi.json (API schema)
  adain serve --host 0.0.0.0 --port 8080        # reachable from other machines
  adain serve --max-size 768 --queue 8 --max-upload-mb 10
  adain serve --models models/                  # the page can also compute in the browser (adain export --format onnx)
  adain serve --models models/ --backend onnxruntime    # and the server computes with ONNX Runtime
  adain serve --compile                         # compile each request shape (a few) at once, in the background
  curl -F content=@photo.jpg -F style_name=hokusai -F alpha=0.8 -o out.png http://127.0.0.1:8000/api/stylize

A content shape asked for often enough (as many requests again as so far would repay the compile
time) is compiled on a thread of its own while its requests are served eagerly; a failed
compilation logs one line and the server stays eager.
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
    add_backend_options(p)
    add_compile_option(p, "requests", "as many requests of a shape again as so far would")
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest request body in MiB (default %(default)s)")
    p.add_argument("--max-size", type=int, default=LIMIT("max_size"), help="largest output shorter side a request may ask for (default %(default)s)")
    p.add_argument("--max-styles", type=int, default=LIMIT("max_styles"), help="styles per request (default %(default)s)")
    p.add_argument("--queue", type=int, default=LIMIT("queue"), help="requests waiting or running before 503 (default %(default)s)")
    p.add_argument("--cache", type=int, default=LIMIT("cache"), help="encoded styles kept in memory (default %(default)s)")
    p.add_argument("--max-connections", type=int, metavar="N",
                   help="open connections; more are closed at once (default: a quarter of the file-handle limit, at most 256)")
    p.add_argument("--request-timeout", type=float, default=LIMIT("request_timeout"), metavar="S",
                   help="seconds a connection has to send a whole request before it is closed (default %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from adain.apps.server import Limits, serve

    check_compile(args)
    limits = Limits(max_upload_bytes=int(args.max_upload_mb * 2**20), max_size=args.max_size, max_styles=args.max_styles, queue=args.queue, cache=args.cache,
                    request_timeout=args.request_timeout, **({} if args.max_connections is None else {"max_connections": args.max_connections}))
    serve(args.host, args.port, lambda: stylizer_from_args(args), limits=limits, models=args.models, compile=args.compile)
