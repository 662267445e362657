"""The lite network as two ONNX graphs, what :mod:`adain.lite.runtime` runs without torch.

``lite-encoder.onnx``: ``image`` ``(1, 3, H, W)`` RGB in [0, 1] (H, W multiples of ``2^(L−1)``) → ``bottleneck``
``(1, C_L, H/2^(L−1), W/2^(L−1))``, the finer stages' features ``feature1 … feature(L−1)`` ``(1, C_l, H/2^(l−1), W/2^(l−1))``
and each stage's ``mean1, std1, … stdL`` ``(1, C_l, 1, 1)``.
``lite-decoder.onnx``: ``bottleneck``, the content's ``feature1 … feature(L−1)`` and the targets ``mean1 … stdL``, each
``(1, C_l, 1, 1)`` or a spatial map ``(1, C_l, H_l, W_l)`` of its stage's size → ``image`` ``(1, 3, H, W)`` (unclamped).
Both carry the same metadata (:data:`adain.lite.weights.FORMAT`, the widths, the weights' fingerprint
and their training record), so a pair from two different networks is refused.

The graphs are written node by node from the weights (:class:`_Graph`), not traced: every dimension
but the channels stays free, and the result does not depend on torch's exporters. Each of the decoder's 2x nearest
upsamplings and the reflection-padded 3x3 convolution after it are written at the low resolution
(:func:`upsampled_kernel`): the same function with 4/9 of the multiply-adds and no full-resolution Resize or Pad
(about a fifth less time for a 512 px image in ONNX Runtime on a CPU).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from adain.encoder import fingerprint
from adain.io.atomic import atomic_path
from adain.lite.model import LiteNet
from adain.lite.weights import DECODER_FILE, ENCODER_FILE, FORMAT, feature_names, stat_names
from adain.ops import EPS

OPSET = 17
IR_VERSION = 8
"""The ONNX file format of opset 17, which every ONNX Runtime since 1.13 reads (the page's onnxruntime-web too)."""

_TAPS = np.array([[[1, 1, 0], [0, 0, 1]], [[1, 0, 0], [0, 1, 1]]], np.float32)
"""Along one axis, for the sub-position ``s`` of DepthToSpace: which of a 3x3 kernel's taps ``w0, w1, w2`` sum to each
of the 2x2 kernel's taps (``s = 0``: ``w0 + w1, w2``; ``s = 1``: ``w0, w1 + w2``), see :func:`upsampled_kernel`."""


def upsampled_kernel(weight: np.ndarray) -> np.ndarray:
    """The 3x3 kernel ``(C_out, C_in, 3, 3)`` of a convolution of the reflection-padded 2x nearest upsampling of ``x``,
    as a 2x2 kernel ``(4·C_out, C_in, 2, 2)`` on ``x`` edge-padded by 1 whose DepthToSpace (DCR) is that convolution
    with one more pixel on each side.

    Along an axis, the reflection-padded upsampling is the upsampling of the edge-padded ``x`` ``e`` (``e[-1] = x[0]``,
    ``e[n] = x[n-1]``), so output ``2i`` sees ``e[i-1], e[i], e[i]`` and output ``2i+1`` sees ``e[i], e[i], e[i+1]``. The 2x2
    convolution at ``q`` sees ``e[q-1], e[q]``; DepthToSpace puts its channels of sub-position ``s`` at ``2q+s``, which
    is output ``2q+s-1``: ``s = 0`` the odd output ``2(q-1)+1`` (taps ``w0 + w1, w2``), ``s = 1`` the even ``2q`` (``w0, w1 + w2``).
    """
    k = np.einsum("ykd,xlc,oidc->yxoikl", _TAPS, _TAPS, weight)
    return np.ascontiguousarray(k.reshape(4 * weight.shape[0], weight.shape[1], 2, 2))


class _Graph:
    """An ONNX graph being written: nodes, weights, and fresh names for the values between them."""

    def __init__(self) -> None:
        import onnx

        self.onnx = onnx
        self.nodes: list = []
        self.weights: list = []
        self.count = 0

    def op(self, kind: str, *inputs: str, out: str | None = None, **attrs: Any) -> str:
        self.count += 1
        name = out or f"{kind.lower()}_{self.count}"
        self.nodes.append(self.onnx.helper.make_node(kind, list(inputs), [name], **attrs))
        return name

    def const(self, value: np.ndarray, name: str | None = None) -> str:
        self.count += 1
        name = name or f"const_{self.count}"
        self.weights.append(self.onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def conv(self, x: str, layer: Any, prefix: str) -> str:
        """A ``_conv`` block of :mod:`adain.lite.model`: reflection pad 1, 3x3 convolution, ReLU if it has one."""
        conv = layer[1]
        pads = self.const(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))
        x = self.op("Pad", x, pads, mode="reflect")
        w = self.const(conv.weight.detach().float().numpy(), f"{prefix}.weight")
        b = self.const(conv.bias.detach().float().numpy(), f"{prefix}.bias")
        x = self.op("Conv", x, w, b, kernel_shape=[3, 3], strides=[conv.stride[0]] * 2)
        return self.op("Relu", x) if len(layer) > 2 else x

    def stats(self, x: str, mean: str | None = None, std: str | None = None) -> tuple[str, str]:
        """Per-channel mean and std over space (population variance + eps), as :func:`adain.lite.model.stage_stats`."""
        m = self.op("ReduceMean", x, axes=[2, 3], keepdims=1, out=mean)
        d = self.op("Sub", x, m)
        var = self.op("ReduceMean", self.op("Mul", d, d), axes=[2, 3], keepdims=1)
        return m, self.op("Sqrt", self.op("Add", var, self.const(np.array(EPS, np.float32))), out=std)

    def modulate(self, x: str, mean: str, std: str, channels: int) -> str:
        """Instance-normalise ``x`` (population variance + eps, as :func:`adain.lite.model.modulate`) and give it ``mean``/``std``."""
        ones, zeros = self.const(np.ones(channels, np.float32)), self.const(np.zeros(channels, np.float32))
        normalised = self.op("InstanceNormalization", x, ones, zeros, epsilon=EPS)
        return self.op("Add", self.op("Mul", normalised, std), mean)

    def skip(self, x: str, conv: Any, prefix: str) -> str:
        """A 1x1 convolution (a skip connection of :class:`adain.lite.model.LiteDecoder`)."""
        w = self.const(conv.weight.detach().float().numpy(), f"{prefix}.weight")
        return self.op("Conv", x, w, self.const(conv.bias.detach().float().numpy(), f"{prefix}.bias"), kernel_shape=[1, 1])

    def up_conv(self, x: str, layer: Any, prefix: str) -> str:
        """A 2x nearest upsampling and a ``_conv`` block after it, at the low resolution: edge pad 1, a 2x2 convolution to
        the four sub-positions (:func:`upsampled_kernel`), ReLU if the block has one, DepthToSpace, and a crop of 1."""
        conv = layer[1]
        weight, bias = conv.weight.detach().float().numpy(), conv.bias.detach().float().numpy()
        x = self.op("Pad", x, self.const(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)), mode="edge")
        w = self.const(upsampled_kernel(weight), f"{prefix}.weight")
        x = self.op("Conv", x, w, self.const(np.tile(bias, 4), f"{prefix}.bias"), kernel_shape=[2, 2])
        x = self.op("DepthToSpace", self.op("Relu", x) if len(layer) > 2 else x, blocksize=2, mode="DCR")
        ends = self.const(np.array([-1, -1], np.int64))
        return self.op("Slice", x, self.const(np.array([1, 1], np.int64)), ends, self.const(np.array([2, 3], np.int64)))

    def model(self, inputs: list[tuple[str, list]], outputs: list[tuple[str, list]], meta: dict[str, str]) -> bytes:
        helper = self.onnx.helper
        float32 = self.onnx.TensorProto.FLOAT
        graph = helper.make_graph(self.nodes, "adain-lite", [helper.make_tensor_value_info(n, float32, shape) for n, shape in inputs],
                                  [helper.make_tensor_value_info(n, float32, shape) for n, shape in outputs], self.weights)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="adain", ir_version=IR_VERSION)
        for key, value in meta.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        self.onnx.checker.check_model(model)
        return model.SerializeToString()


def encoder_graph(net: LiteNet, meta: dict[str, str]) -> bytes:
    """The encoder graph of ``net`` (see the module's docstring)."""
    g = _Graph()
    x = g.op("Sub", g.op("Mul", "image", g.const(np.array(2, np.float32))), g.const(np.array(1, np.float32)))
    feats = []
    for i, stage in enumerate(net.encoder.stages):
        blocks: list[Any] = [stage] if i == 0 else list(stage)  # type: ignore[call-overload]  # a Sequential iterates its blocks
        for j, block in enumerate(blocks):
            x = g.conv(x, block, f"encoder.stages.{i}.{j}")
        feats.append(x)
    levels = len(net.widths)
    finer = [(name, [1, net.widths[i], f"{name}_h", f"{name}_w"]) for i, name in enumerate(feature_names(levels))]
    for name, value in {"bottleneck": feats[-1], **dict(zip(feature_names(levels), feats[:-1], strict=True))}.items():
        g.nodes.append(g.onnx.helper.make_node("Identity", [value], [name]))
    names = stat_names(levels)
    for i, f in enumerate(feats):
        g.stats(f, names[2 * i], names[2 * i + 1])
    stats = [(name, [1, net.widths[i // 2], 1, 1]) for i, name in enumerate(names)]
    return g.model([("image", [1, 3, "H", "W"])], [("bottleneck", [1, net.widths[-1], "h", "w"]), *finer, *stats], meta)


def decoder_graph(net: LiteNet, meta: dict[str, str]) -> bytes:
    """The decoder graph of ``net`` (see the module's docstring)."""
    g, dec, levels = _Graph(), net.decoder, len(net.widths)
    x = g.modulate("bottleneck", f"mean{levels}", f"std{levels}", net.widths[-1])
    for j, block in enumerate(dec.bottleneck):
        x = g.conv(x, block, f"decoder.bottleneck.{j}")
    for i, up in enumerate(dec.ups):
        level = levels - 1 - i
        x = g.op("Add", g.up_conv(x, up, f"decoder.ups.{i}"), g.skip(f"feature{level}", dec.skips[i], f"decoder.skips.{i}"))
        x = g.modulate(x, f"mean{level}", f"std{level}", net.widths[level - 1])
        x = g.conv(x, dec.afters[i], f"decoder.afters.{i}") if i < len(dec.afters) else g.conv(x, dec.out, "decoder.out")
    g.nodes.append(g.onnx.helper.make_node("Identity", [x], ["image"]))
    finer = [(name, [1, net.widths[i], f"{name}_h", f"{name}_w"]) for i, name in enumerate(feature_names(levels))]
    targets = [(name, [1, net.widths[i // 2], f"{name}_h", f"{name}_w"]) for i, name in enumerate(stat_names(levels))]
    return g.model([("bottleneck", [1, net.widths[-1], "h", "w"]), *finer, *targets], [("image", [1, 3, "H", "W"])], meta)


def export_lite(net: LiteNet, folder: str | Path, metadata: dict | None = None) -> tuple[Path, Path]:
    """Write ``lite-encoder.onnx`` and ``lite-decoder.onnx`` for ``net`` into ``folder`` (atomically).

    Returns:
        the two paths.
    """
    folder = Path(folder)
    meta = {
        "format": FORMAT,
        "widths": json.dumps(list(net.widths)),
        "weights": fingerprint(net),
        "training": json.dumps(metadata if metadata is not None else getattr(net, "metadata", {}), default=str),
    }
    paths = folder / ENCODER_FILE, folder / DECODER_FILE
    for path, data in zip(paths, (encoder_graph(net, meta), decoder_graph(net, meta))):
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    return paths
