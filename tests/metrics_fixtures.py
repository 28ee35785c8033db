"""Fixtures shared by the metric tests: no network at all, and one CPU thread.

Import them into a test module (`from metrics_fixtures import offline, one_thread  # noqa: F401`); being
autouse, they then apply to every test of that module.
"""

from __future__ import annotations

import socket
from contextlib import contextmanager

import pytest
import torch
from threadpoolctl import threadpool_limits

from jointdiff.metrics.inception import CACHE_ENV


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path, tmp_path_factory):
    """No network: sockets refuse to connect, torch hub's home is empty, the weights cache is per session."""
    def refuse(*args, **kwargs):
        raise OSError("a test tried to use the network")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    torch_home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.setenv(CACHE_ENV, str(tmp_path_factory.getbasetemp() / "jointdiff-cache"))
    yield
    assert not torch_home.exists() or not any(torch_home.rglob("*")), "something was downloaded"


@contextmanager
def single_cpu_thread():
    """One CPU thread for torch and BLAS: on the shared 2-core machine two run about 4x slower under load."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def one_thread():
    with single_cpu_thread():
        yield
