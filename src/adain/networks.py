"""The networks a :class:`~adain.stylizer.Stylizer` runs: what differs between its backends.

A Stylizer composes one networks object (``Stylizer(networks=...)``): :class:`TorchNetworks`, the default,
or :class:`~adain.onnx.runtime.OnnxNetworks` (an export in ONNX Runtime). Everything between the two
network calls (the transfer, every control, padding, cropping) is the Stylizer's own code.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor, nn

from adain.decoder import Decoder, load_decoder, training_steps
from adain.device import auto_bf16, pick_device
from adain.encoder import Encoder, encoder_identity, fingerprint


class Networks(Protocol):
    """An encoder and a decoder of one backend, and how a :class:`~adain.stylizer.Stylizer` runs them."""

    bf16: bool  # bf16 autocast around the calls
    memory_format: torch.memory_format  # the inputs' layout
    compilable: bool  # torch modules: torch.compile and refinement's gradients apply

    @property
    def device(self) -> torch.device:
        """Where the inputs go."""

    @property
    def encoder_identity(self) -> str:
        """Which encoder this is, as style files record it (:func:`adain.encoder.encoder_identity`)."""

    @property
    def taps(self) -> tuple[str, ...]:
        """The encoder's taps these networks compute (``relu1_1`` … ``relu4_1``; an ONNX export: ``relu4_1`` only)."""

    @property
    def model_entry(self) -> dict:
        """The networks, as an output's record names them: decoder and encoder fingerprints, training steps, precision."""

    def encode(self, images: Tensor) -> Tensor:
        """``(N, 3, H, W)`` → relu4_1 ``(N, 512, ⌊H/8⌋, ⌊W/8⌋)``."""

    def decode(self, t: Tensor) -> Tensor:
        """Features ``(N, 512, h, w)`` → images ``(N, 3, 8h, 8w)``, unclamped."""


class TorchNetworks(nn.Module):
    """The torch encoder and decoder on one device, the Stylizer's default networks (the arguments are the Stylizer's).

    The modules passed in are copied, never changed (moved or converted) in place; :attr:`device` follows the modules.
    """

    compilable = True

    def __init__(self, decoder: Decoder | str | Path | None = None, *, encoder: Encoder | None = None, device: str | torch.device = "auto",
                 bf16: bool | None = None, channels_last: bool = True) -> None:
        super().__init__()
        target = pick_device(device) if isinstance(device, str) else torch.device(device)
        self.memory_format = fmt = torch.channels_last if channels_last else torch.contiguous_format
        # weights are loaded in their final layout; modules passed in are copied, then converted (torch's stubs lack memory_format)
        own_encoder = copy.deepcopy(encoder) if encoder is not None else Encoder(memory_format=fmt)
        own_decoder = copy.deepcopy(decoder) if isinstance(decoder, nn.Module) else load_decoder(decoder, memory_format=fmt)
        self.encoder: Encoder = own_encoder.to(target, memory_format=fmt).eval()  # type: ignore[call-overload]
        self.decoder: Decoder = own_decoder.to(target, memory_format=fmt).eval()  # type: ignore[call-overload]
        self.bf16 = auto_bf16(target) if bf16 is None else bf16

    def encode(self, images: Tensor) -> Tensor:
        """``(N, 3, H, W)`` → relu4_1 ``(N, 512, ⌊H/8⌋, ⌊W/8⌋)``."""
        return self.encoder.encode(images)

    def decode(self, t: Tensor) -> Tensor:
        """Features ``(N, 512, h, w)`` → images ``(N, 3, 8h, 8w)``, unclamped."""
        return self.decoder(t)

    @property
    def device(self) -> torch.device:
        """The device the networks are on (that of the decoder's weights)."""
        return next(self.decoder.parameters()).device

    @property
    def encoder_identity(self) -> str:
        """Which encoder this is, as style files record it (:func:`adain.encoder.encoder_identity`)."""
        return encoder_identity(self.encoder)

    @property
    def taps(self) -> tuple[str, ...]:
        """The encoder's taps, ``relu1_1`` … ``relu4_1``."""
        return tuple(self.encoder.taps)

    @property
    def model_entry(self) -> dict:
        """Decoder and encoder fingerprints, the decoder's training steps, the precision."""
        return {"decoder": fingerprint(self.decoder), "decoder_steps": training_steps(getattr(self.decoder, "metadata", {}) or {}),
                "encoder": self.encoder_identity, "precision": "bf16" if self.bf16 else "fp32"}
