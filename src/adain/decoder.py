"""The AdaIN decoder g: a mirror of the encoder up to relu4_1.

Nearest-neighbour 2x upsampling + 3x3 convolutions with reflection padding,
ReLU, no normalisation layers; the last conv outputs RGB in [0, 1] (unclamped).
Weights are stored as safetensors with their provenance in the metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor, nn

from adain.errors import WeightsError
from adain.io.atomic import atomic_path

DECODER_PATH = Path(__file__).parent / "weights" / "decoder.safetensors"

# (in, out) channels of each conv; "up" is a nearest 2x upsampling.
LAYOUT: tuple[tuple[int, int] | str, ...] = (
    (512, 256), "up",
    (256, 256), (256, 256), (256, 256), (256, 128), "up",
    (128, 128), (128, 64), "up",
    (64, 64), (64, 3),
)


class Decoder(nn.Module):
    """relu4_1-sized features ``(N, 512, h, w)`` → image ``(N, 3, 8h, 8w)``.

    Args:
        width: channel multiplier (1.0 is the paper's decoder; smaller values
            make tiny nets for tests).
    """

    def __init__(self, width: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        convs = [item for item in LAYOUT if item != "up"]
        for item in LAYOUT:
            if item == "up":
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
                continue
            cin, cout = item
            cin = cin if cin == 512 else max(1, round(cin * width))
            cout = cout if cout == 3 else max(1, round(cout * width))
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
            if item is not convs[-1]:
                layers.append(nn.ReLU(inplace=True))
        self.width = width
        self.net = nn.Sequential(*layers)

    def forward(self, t: Tensor) -> Tensor:
        if t.dim() != 4 or t.shape[1] != 512:
            raise ValueError(f"decoder input must be (N, 512, h, w) relu4_1 features, got shape {tuple(t.shape)}")
        return self.net(t)


def save_decoder(decoder: Decoder, path: str | Path, metadata: dict | None = None) -> None:
    """Write weights atomically as safetensors; metadata values are stored as JSON strings."""
    path = Path(path)
    meta = {"format": "adain-decoder", "width": json.dumps(decoder.width)}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()})
    state = {k: v.detach().float().contiguous().cpu() for k, v in decoder.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def read_metadata(path: str | Path = DECODER_PATH) -> dict:
    """Metadata of a decoder file, JSON values decoded."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: decoder weights not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a valid safetensors decoder file ({exc})") from None
    out = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def training_steps(meta: dict) -> int | None:
    """Steps of training behind a decoder's weights, all phases: ``total_steps`` where its run
    started from other weights (``adain train --init``), else the run's ``steps``.

    Example: ``training_steps({"steps": 1600, "total_steps": 26364}) == 26364``.
    """
    return meta.get("total_steps", meta.get("steps"))


def load_decoder(path: str | Path | None = None, *, memory_format: torch.memory_format = torch.contiguous_format) -> Decoder:
    """Load decoder weights (default: the one shipped in the package), convolution weights in ``memory_format``.

    The layers are built without memory and take the file's tensors as they are
    (nothing is initialised only to be overwritten).
    """
    path = Path(path) if path is not None else DECODER_PATH
    meta = read_metadata(path)
    try:
        state = {k: v.contiguous(memory_format=memory_format) if v.dim() == 4 else v for k, v in load_file(str(path)).items()}
        with torch.device("meta"):
            decoder = Decoder(width=float(meta.get("width", 1.0)))
        decoder.load_state_dict(state, assign=True)
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise WeightsError(f"{path}: cannot load decoder weights ({str(exc).splitlines()[0][:120]})") from None
    decoder.metadata = meta
    return decoder.eval().requires_grad_(False)


@torch.no_grad()
def init_like_paper(decoder: Decoder, seed: int = 0) -> Decoder:
    """Deterministic default init (PyTorch's) from a seed, so runs are reproducible."""
    gen = torch.Generator().manual_seed(seed)
    for m in decoder.modules():
        if isinstance(m, nn.Conv2d):
            bound = 1.0 / (m.in_channels * 9) ** 0.5
            m.weight.uniform_(-bound, bound, generator=gen)
            m.bias.uniform_(-bound, bound, generator=gen)
    return decoder
