"""ONNX Runtime backend: the exported encoder and decoder (see :mod:`adain.onnx.export`) in place of torch's.

Only the two networks run in ONNX Runtime. Everything between them (AdaIN, α,
interpolation, masks, colour preservation, padding, cropping) is the same code as the torch
path: :func:`OnnxStylizer` gives a :class:`~adain.stylizer.Stylizer` composed with :class:`OnnxNetworks`,
whose network calls go through ONNX Runtime sessions.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from adain.decoder import training_steps
from adain.errors import InputError, UsageError
from adain.names import PRECISIONS_RUN
from adain.onnx.export import (
    CALIBRATION_PERCENTILE,
    CALIBRATION_SIZE,
    FILES,
    FLOAT_CONVS,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    PRECISIONS,
    export_onnx,
    file_digest,
    require_onnx,
)
from adain.schema import Int, Record, SchemaError, Str, load_json, short, shorten
from adain.stylizer import Stylizer


class ExportError(InputError):
    """An export folder that is missing, incomplete, damaged or from another format version."""


MANIFEST_BYTES = 1 << 20
"""The largest manifest read (one is about 2 KB)."""
MODEL_BYTES = 1 << 34
"""The largest model file a manifest may list."""
FILE_ENTRY = Record({"path": Str(255), "bytes": Int(1, MODEL_BYTES), "sha256": Str(64), "input": Str(100), "output": Str(100)})
"""One model file of a manifest: its name in the folder, size, SHA-256, and its input's and output's names."""
MANIFEST_SCHEMA = Record({"format": Str(100), "format_version": Int(0, 1000), "adain_version": Str(100), "precision": Str(16, PRECISIONS),
                          "encoder_identity": Str(200), "files": Record({role: FILE_ENTRY for role in FILES})},
                         optional=("adain_version", "encoder_identity"))
"""What :func:`read_manifest` checks of a manifest (other keys, describing the export for people, are kept as they are)."""
NETWORKS = {"encoder": ((1, 3, 16, 16), (1, 512, 2, 2)), "decoder": ((1, 512, 2, 2), (1, 3, 16, 16))}
"""Each network's probe input and the output shape it must give (:func:`check_network`)."""


def read_manifest(folder: str | Path, *, verify: bool = True) -> dict:
    """Read and check an export folder's manifest (:data:`MANIFEST_SCHEMA`: types, sizes, nesting) and files.

    Args:
        verify: also compare each model file's size and SHA-256 with the manifest.

    Raises:
        ExportError: a one-line message naming the folder or file and the problem (values read cut short).
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ExportError(f"{folder}: not a folder (export one with: adain export --format onnx --output {folder})")
    if not path.is_file():
        raise ExportError(f"{folder}: no {MANIFEST}, not an adain ONNX export (or an incomplete one): export it again")
    if path.stat().st_size > MANIFEST_BYTES:
        raise ExportError(f"{path}: {path.stat().st_size} bytes is too large for a manifest (at most {MANIFEST_BYTES})")
    try:
        manifest = load_json(path.read_bytes(), str(path), max_bytes=MANIFEST_BYTES)
    except SchemaError as exc:
        raise ExportError(str(exc)) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ExportError(f"{path}: not an adain ONNX manifest (format is not {FORMAT!r})")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        made_by = manifest.get("adain_version", "another version")
        raise ExportError(f"{path}: export format {short(version)} (made by adain {short(made_by) if not isinstance(made_by, str) else shorten(made_by)}); "
                          f"this adain reads format {FORMAT_VERSION}: export again")
    try:
        MANIFEST_SCHEMA.check(manifest, str(path))
    except SchemaError as exc:
        raise ExportError(str(exc)) from None
    for role in FILES:
        entry = manifest["files"][role]
        name = entry["path"]
        if name in ("", ".", "..") or Path(name).name != name or "\\" in name:
            raise ExportError(f"{path}: files.{role}.path must name a file in the export folder, got {short(name)}")
        file = folder / name
        if not file.is_file():
            raise ExportError(f"{file}: missing ({role} of the export in {folder}): export it again")
        if verify and (file.stat().st_size != entry["bytes"] or file_digest(file) != entry["sha256"]):
            raise ExportError(f"{file}: does not match its manifest (size or SHA-256 differs): damaged or from another export")
    return manifest


def runtime_errors() -> tuple[type[BaseException], ...]:
    """What ONNX Runtime raises for a model it cannot load or run (its own exception classes)."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return (RuntimeError, *(v for v in vars(state).values() if isinstance(v, type) and issubclass(v, Exception)))


def _why(exc: BaseException) -> str:
    """ONNX Runtime's reason, short: the last part of its first line (``[ONNXRuntimeError] : 7 : … : Protobuf parsing failed.``)."""
    line = (str(exc).splitlines() or [""])[0]
    return shorten(line.rpartition(" : ")[2].strip() or type(exc).__name__)


def check_network(session: object, role: str, entry: dict, file: Path) -> None:
    """Check that an ONNX Runtime session is the ``role`` network its manifest ``entry`` says, before using it:
    one float input and one float output of the names the manifest gives, of rank 4, and a probe
    (:data:`NETWORKS`) that gives the output shape the network must give.

    Raises:
        ExportError: another network (naming ``file`` and what differs).
    """
    import numpy as np

    inputs, outputs = session.get_inputs(), session.get_outputs()  # type: ignore[attr-defined]
    wanted = f"one input {entry['input']!r} and one output {entry['output']!r}"
    if len(inputs) != 1 or len(outputs) != 1 or inputs[0].name != entry["input"] or outputs[0].name != entry["output"]:
        found = f"inputs {shorten(str([i.name for i in inputs]))}, outputs {shorten(str([o.name for o in outputs]))}"
        raise ExportError(f"{file}: not the {role} its manifest describes ({wanted} expected; it has {found})")
    for tensor in (inputs[0], outputs[0]):
        if tensor.type != "tensor(float)" or len(tensor.shape) != 4:
            raise ExportError(f"{file}: not the {role} its manifest describes ({tensor.name!r} is {shorten(str(tensor.type))} of rank "
                              f"{len(tensor.shape)}; float32 of rank 4 expected)")
    probe, expected = NETWORKS[role]
    try:
        out = session.run(None, {inputs[0].name: np.zeros(probe, np.float32)})[0]  # type: ignore[attr-defined]
    except runtime_errors() as exc:
        raise ExportError(f"{file}: the {role} fails on a {probe[-1]}x{probe[-2]} probe ({_why(exc)})") from None
    if tuple(out.shape) != expected:
        raise ExportError(f"{file}: not the {role} its manifest describes (it turns {probe} into {tuple(out.shape)}, the {role} gives {expected})")


class OnnxNetworks:
    """The encoder and decoder of an export folder as ONNX Runtime sessions (CPU, float32 in and out), each checked
    to be the network its manifest says (:func:`check_network`) before it runs: a Stylizer's
    :class:`~adain.networks.Networks`, not torch modules (no ``torch.compile``, no refinement).

    Args:
        folder: an export folder (checked with :func:`read_manifest`).
        threads: intra-op threads (``None``: ONNX Runtime's default, one per core).

    Raises:
        ExportError: a damaged manifest, a model file ONNX Runtime cannot load, or another network.
    """

    bf16 = False
    memory_format = torch.contiguous_format
    compilable = False
    device = torch.device("cpu")  # ONNX Runtime's sessions take and give CPU arrays
    taps = ("relu4_1",)  # the export holds the encoder to relu4_1 only

    def __init__(self, folder: str | Path, *, threads: int | None = None) -> None:
        require_onnx(("onnxruntime",))
        import onnxruntime as ort

        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads is not None:
            options.intra_op_num_threads = threads
        files = self.manifest["files"]
        self.files = {role: self.folder / files[role]["path"] for role in FILES}
        self.sessions = {}
        for role, file in self.files.items():
            try:
                session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
            except runtime_errors() as exc:
                raise ExportError(f"{file}: not an ONNX model ONNX Runtime can load ({_why(exc)}): export it again") from None
            check_network(session, role, files[role], file)
            self.sessions[role] = session

    def _run(self, role: str, x: Tensor) -> Tensor:
        session = self.sessions[role]
        array = np.ascontiguousarray(x.detach().float().cpu().numpy())
        try:
            return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: array})[0])
        except runtime_errors() as exc:
            raise ExportError(f"{self.files[role]}: the {role} fails on an input of shape {tuple(array.shape)} ({_why(exc)})") from None

    def encode(self, image: Tensor) -> Tensor:
        """``(N, 3, H, W)`` RGB in [0, 1] → relu4_1 ``(N, 512, ⌊H/8⌋, ⌊W/8⌋)``."""
        return self._run("encoder", image)

    def decode(self, t: Tensor) -> Tensor:
        """Features ``(N, 512, h, w)`` → ``(N, 3, 8h, 8w)``, unclamped."""
        return self._run("decoder", t)

    @property
    def encoder_identity(self) -> str:
        """The exported encoder's identity, as its manifest records it (style files are checked against it).

        Raises:
            ExportError: an export that does not record it (made by an earlier adain).
        """
        identity = self.manifest.get("encoder_identity")
        if not isinstance(identity, str):
            raise ExportError(f"{self.folder / MANIFEST}: does not say which encoder it holds (an earlier export): "
                              "export it again to use style files")
        return identity

    @property
    def model_entry(self) -> dict:
        """The networks, as the export's manifest names them (the files' digests, the decoder's training steps, the precision)."""
        files = self.manifest.get("files", {})
        return {"decoder": str(files.get("decoder", {}).get("sha256", "onnx"))[:16], "decoder_steps": training_steps(self.manifest.get("decoder") or {}),
                "encoder": self.manifest.get("encoder_identity") or str(files.get("encoder", {}).get("sha256", "onnx"))[:16],
                "precision": f"{self.manifest.get('precision', 'fp32')} (onnxruntime)"}


def OnnxStylizer(folder: str | Path, *, threads: int | None = None) -> Stylizer:
    """A :class:`~adain.stylizer.Stylizer` running the networks of an export folder in ONNX Runtime (:class:`OnnxNetworks`:
    CPU, float32 in and out; ``stylizer.networks.manifest`` is the export's manifest).

    Every control is the torch Stylizer's own code; only the encoder and decoder calls differ.

    Args:
        folder: an export folder (``adain export --format onnx --output DIR``).
        threads: intra-op threads (``None``: one per core).

    Raises:
        ExportError: as :class:`OnnxNetworks`.
    """
    return Stylizer(networks=OnnxNetworks(folder, threads=threads))


BACKENDS = ("torch", "onnxruntime")
"""``--precision``: ``auto`` (bf16 where the hardware computes it natively, else fp32), ``fp32``, ``bf16``, or
``int8`` (the static int8 export in ONNX Runtime, :func:`int8_models`)."""


def cache_folder() -> Path:
    """Where adain keeps what it builds once: ``$ADAIN_CACHE``, else ``$XDG_CACHE_HOME/adain`` (``~/.cache/adain``)."""
    if os.environ.get("ADAIN_CACHE"):
        return Path(os.environ["ADAIN_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "adain"


def int8_models(decoder: str | Path | None = None, *, cache: Path | None = None,
                log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)) -> Path:
    """The static int8 export (:func:`adain.onnx.export.export_onnx` with ``precision="int8"``) of ``decoder`` (default:
    the shipped one) and the pretrained encoder, built here the first time (a few minutes: ONNX export and
    calibration on the bundled examples; no download) and kept in ``cache/int8/<key>``, the key a digest of
    both networks' fingerprints, adain's, torch's, onnx's and ONNX Runtime's versions and the quantization settings.

    Raises:
        MissingExtraError: onnx, onnxruntime or onnxscript is missing (one line naming the ``onnx`` extra).
    """
    from importlib.metadata import PackageNotFoundError, version

    require_onnx(("onnxruntime",))  # what running it needs; building also needs onnx and onnxscript (imported only then)
    try:
        tools = {name: version(name) for name in ("onnx", "onnxruntime")}
    except PackageNotFoundError:
        require_onnx()
        raise

    from adain.decoder import load_decoder
    from adain.encoder import Encoder, encoder_identity, fingerprint
    from adain.version import __version__

    networks = Encoder(), load_decoder(decoder)
    recipe = {"encoder": encoder_identity(networks[0]), "decoder": fingerprint(networks[1]), "adain": __version__, "torch": torch.__version__,
              **tools, "float_convs": FLOAT_CONVS, "calibration": [CALIBRATION_SIZE, CALIBRATION_PERCENTILE]}
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    folder = (cache or cache_folder()) / "int8" / key
    if (folder / MANIFEST).is_file():
        return folder
    require_onnx()
    log(f"building the int8 model once (ONNX export, calibration on the bundled examples: a few minutes) in {folder}")
    building = folder.with_name(f".{key}.{os.getpid()}")
    try:
        export_onnx(building, precision="int8", encoder=networks[0], decoder=networks[1])
        building.rename(folder)
    except OSError:
        if not (folder / MANIFEST).is_file():  # not another process's build finishing first
            raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return folder


def make_stylizer(
    backend: str = "torch",
    *,
    models: str | Path | None = None,
    decoder: str | Path | None = None,
    device: str | torch.device = "auto",
    bf16: bool | None = None,
    threads: int | None = None,
    precision: str = "auto",
) -> Stylizer:
    """A :class:`~adain.stylizer.Stylizer` on ``backend``: ``torch`` (``decoder``, ``device``, ``bf16``) or
    ``onnxruntime`` (an export folder ``models``; CPU, float32 in and out).

    ``precision`` (torch backend): ``auto`` (``bf16`` as given, default where native), ``fp32``, ``bf16``, or
    ``int8``: ``decoder``'s static int8 export (:func:`int8_models`, built once) in ONNX Runtime, on the CPU, with
    ``threads`` or as many threads as torch uses (``OMP_NUM_THREADS``).

    Raises:
        UsageError: an unknown backend or precision, or options the backend does not take.
        MissingExtraError: ``int8`` without the ``onnx`` extra.
    """
    if backend not in BACKENDS:
        raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if precision not in PRECISIONS_RUN:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS_RUN)}, got {precision!r}")
    if backend == "onnxruntime" and precision != "auto":
        raise UsageError("with the onnxruntime backend the export's own precision is used: make one with adain export --precision")
    if precision == "int8":
        if str(device) not in ("auto", "cpu"):
            raise UsageError(f"int8 runs in ONNX Runtime on the CPU, not on {device!r}")
        return OnnxStylizer(int8_models(decoder), threads=torch.get_num_threads() if threads is None else threads)
    if backend == "torch":
        return Stylizer(decoder, device=device, bf16={"fp32": False, "bf16": True}.get(precision, bf16))
    if models is None:
        raise UsageError("the onnxruntime backend needs an export folder (--models DIR; make one with: adain export --format onnx --output DIR)")
    if decoder is not None:
        raise UsageError("the onnxruntime backend takes the decoder from the export folder: export the decoder you want (adain export --decoder FILE)")
    if str(device) not in ("auto", "cpu"):
        raise UsageError(f"the onnxruntime backend runs on the CPU, not on {device!r}")
    return OnnxStylizer(models, threads=threads)
