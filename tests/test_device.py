"""The torchrun environment, read in one place."""

from __future__ import annotations

from pathlib import Path

import torch

from adain.device import DistEnv, dist_env, rank_device


def test_dist_env_reads_torchrun_variables(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert dist_env() == DistEnv(0, 1, None)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert dist_env() == DistEnv(3, 4, 1)


def test_rank_device_takes_the_local_gpu_only_for_cuda():
    assert rank_device("cpu", DistEnv(3, 4, 1)) == torch.device("cpu")
    if torch.cuda.is_available():
        assert rank_device("cuda", DistEnv(3, 4, 0)) == torch.device("cuda", 0)


def test_cpu_has_bf16_reads_the_flags(monkeypatch):
    import adain.device as device

    monkeypatch.setattr(device, "mkldnn_bf16", lambda: True)
    assert device.cpu_has_bf16("flags : fpu avx2 avx512f avx512_bf16 amx_tile") and device.cpu_has_bf16("flags : amx_bf16 amx_tile")
    assert not device.cpu_has_bf16("flags : fpu avx2 avx512f avx512_vnni")  # AVX-512 and VNNI without bf16 (a Xeon), or AVX2 only
    assert not device.cpu_has_bf16("")
    monkeypatch.setattr(device, "mkldnn_bf16", lambda: False)  # a torch whose oneDNN does not use it
    assert not device.cpu_has_bf16("flags : avx512_bf16 amx_bf16")


def test_every_bf16_default_follows_the_cpu(native_bf16, tiny_encoder):
    from adain.decoder import Decoder
    from adain.device import auto_bf16, autocast_for
    from adain.evaluation.bench import cpu_features
    from adain.stylizer import Stylizer
    from adain.training.train import TrainConfig, run_metadata

    cpu = torch.device("cpu")
    assert auto_bf16(cpu) == native_bf16 and auto_bf16(torch.device("cuda"))
    with autocast_for(cpu, None):
        assert torch.is_autocast_enabled("cpu") == native_bf16
    with autocast_for(cpu, True):  # forced, whatever the CPU
        assert torch.is_autocast_enabled("cpu")
    assert Stylizer(Decoder(width=0.0625), encoder=tiny_encoder, device="cpu").bf16 == native_bf16
    assert Stylizer(Decoder(width=0.0625), encoder=tiny_encoder, device="cpu", bf16=False).bf16 is False
    assert run_metadata(TrainConfig(Path("c"), Path("s"), bf16=None), world=1, device=cpu, data={}, history=[])["bf16"] == native_bf16
    assert cpu_features(cpu).endswith("bf16 native" if native_bf16 else "bf16 not native")
