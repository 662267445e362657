"""The size limits of pictures: each with one home, one name and one meaning, for every entry point.

A limit bounds one of three things:

* **as stored**: an input file's pixels, read from its header before anything is decoded (so a
  decompression bomb is refused in milliseconds);
* **after resizing**: a picture's size as the networks take it or as it is written (a content at its
  ``--content-size``, a style at its style size, an output, a texture, a video's frames), computed from
  the header and checked before anything is decoded;
* **memory**: the bytes one picture's work may take (:func:`adain.device.memory_budget`, the lite
  model's own estimate), the bound after resizing when no pixel limit is given.

The command line and the Python API share one value of each; the server has its own, lower values
of the same limits (the ``SERVER_`` names, the defaults of :class:`adain.apps.server.Limits`).
Only the standard library is imported: the lite model's torch-free path reads these too.
"""

from __future__ import annotations

MIN_SIDE = 16
"""After resizing: the smallest side, in px, the networks take (relu4_1 is 1/8 of it, 2x2 at least); every
image, frame and texture, and every size option, is at least this."""

MAX_STORED_PIXELS = 50_000_000
"""As stored: the pixels of each input file, the command line's and the Python API's default
(``--max-pixels``, which when given also bounds the sizes after resizing)."""

MAX_TEXTURE_PIXELS = 16_000_000
"""After resizing: the pixels of a texture (4000x4000) of the command line and the Python API; it bounds the decoder's memory."""

MEMORY_SHARE = 0.5
"""Memory: the share of the memory available when a command starts that one picture's work may take (a content,
a batch of frames, a refinement on the server): the bound after resizing when no ``--max-pixels`` is given."""

SERVER_MAX_STORED_PIXELS = 40_000_000
"""As stored: the server's value of :data:`MAX_STORED_PIXELS`, for each uploaded image (``Limits.max_pixels``)."""

SERVER_MAX_SIZE = 1024
"""After resizing: the largest output shorter side, in px, a request to the server may ask for (``Limits.max_size``)."""

SERVER_MAX_OUTPUT_PIXELS = 2_000_000
"""After resizing: the server's largest output (stylization or texture, its value of :data:`MAX_TEXTURE_PIXELS`), and
each style once resized to the style size (``Limits.max_output_pixels``)."""

SERVER_MAX_REFINE_PIXELS = 600_000
"""After resizing: the server's largest output of a stylization with refinement steps (``Limits.max_refine_pixels``)."""
