"""The torchrun environment, read in one place."""

from __future__ import annotations

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
