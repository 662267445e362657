"""What one request and one connection may ask for: :class:`Limits`, checked when made."""

import resource
from dataclasses import asdict, dataclass, field

from adain.errors import UsageError
from adain.limits import MIN_SIDE, SERVER_MAX_OUTPUT_PIXELS, SERVER_MAX_REFINE_PIXELS, SERVER_MAX_SIZE, SERVER_MAX_STORED_PIXELS
from adain.texture import REFINE_STEPS


def default_connections() -> int:
    """A quarter of the process's file-handle limit, at most 256: the connections held, plus as many
    accepted at once (the listen backlog), plus the files a request opens stay under the limit."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(8, min(256, (4096 if soft == resource.RLIM_INFINITY else soft) // 4))


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; over a limit is a 4xx answer.

    The size limits (``max_pixels``, ``max_size``, ``max_output_pixels``, ``max_refine_pixels``) are the server's values of
    the limits of the same meaning in :mod:`adain.limits`, where their defaults are defined.

    Attributes:
        max_upload_bytes: the whole request body (413 over it).
        max_pixels: as stored: pixels of each uploaded image (the server's :data:`~adain.limits.MAX_STORED_PIXELS`).
        max_size: after resizing: the largest output shorter side a request may ask for.
        max_output_pixels: after resizing: pixels of the output image (a texture too: the server's
            :data:`~adain.limits.MAX_TEXTURE_PIXELS`), and of each style once resized to ``style_size`` (both are
            checked from the files' headers, before anything is decoded).
        max_styles: styles per request.
        queue: requests waiting or running at once (503 over it).
        cache: encoded styles kept (LRU).
        style_size: larger styles are shrunk to this shorter side before encoding (the paper's 512, as ``adain stylize``).
        max_connections: open connections (and the listen backlog); one more closes the oldest one
            waiting for a request, or is closed at once if all are busy (default: a quarter of the
            file-handle limit, at most 256).
        request_timeout: seconds a connection has to send a whole request (headers and body), from its
            start or from the previous answer; then it is closed (idle and slow clients).
        max_refine: optimisation steps a texture or stylization request may ask for (at most :data:`adain.texture.REFINE_STEPS`'
            and :data:`adain.refine.REFINE_STEPS`' last).
        max_refine_pixels: after resizing: the largest output a stylization with refinement steps may have (a step costs a few
            seconds per megapixel on a CPU, and :data:`adain.refine.BYTES_PER_PIXEL` of memory).
    """

    max_upload_bytes: int = 20 * 2**20
    max_pixels: int = SERVER_MAX_STORED_PIXELS
    max_size: int = SERVER_MAX_SIZE
    max_output_pixels: int = SERVER_MAX_OUTPUT_PIXELS
    max_styles: int = 4
    queue: int = 4
    cache: int = 64
    style_size: int = 512
    max_connections: int = field(default_factory=default_connections)
    request_timeout: float = 30.0
    max_refine: int = 20
    max_refine_pixels: int = SERVER_MAX_REFINE_PIXELS

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            least = 0 if name == "max_refine" else 1
            if value < least:
                raise UsageError(f"{name.replace('_', ' ')} must be at least {least}, got {value}")
        if self.max_size < MIN_SIDE or self.style_size < MIN_SIDE:
            raise UsageError(f"max size and style size must be at least {MIN_SIDE}")
        if self.max_refine > REFINE_STEPS[-1]:
            raise UsageError(f"max refine must be at most {REFINE_STEPS[-1]} (adain.texture.REFINE_STEPS), got {self.max_refine}")
