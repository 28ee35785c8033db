"""Shared fixtures: the built-in digits data prepared once per session, a tiny experiment config, a tiny trained
model and the offline Inception weights."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: jointdiff, torchrun, snakemake

# A model small enough that a CPU step takes tens of milliseconds; dropout and augmentation off so runs with
# different process counts can be compared exactly.
TINY_FLAGS = ["--dataset", "digits", "--num_channels", "32", "--num_res_blocks", "1", "--attention_resolutions", "8",
              "--diffusion_steps", "100", "--batch_size", "8", "--lr", "1e-3", "--train_with_classifier", "True",
              "--classifier_loss_scaling", "0.1", "--classifier_dropout", "0", "--classifier_augmentation", "none",
              "--dropout", "0", "--ema_rate", "0.9", "--validation_interval", "5", "--validation_subset", "32",
              "--num_workers", "0", "--plot_interval", "0", "--checkpoint_minutes", "0"]


def thread_share(threads: int) -> int:
    """At most this worker's share of the CPU cores: a 2-thread OpenMP job next to another worker's job runs many
    times slower than a 1-thread one."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, min(threads, (os.cpu_count() or 1) // workers))


if "PYTEST_XDIST_WORKER" in os.environ:  # set before torch and numpy start their thread pools in this worker
    os.environ["OMP_NUM_THREADS"] = str(thread_share(os.cpu_count() or 1))


# Parallel runs (`make test`: pytest-xdist, --dist loadscope) keep a module on one worker, so that its module fixtures
# are built once. Modules that share an expensive session resource go to one worker together, so that it is built
# once; the SLURM tests also share one cluster whose pre-emption tests need the whole node. These groups are handed
# out first: they are the longest. A module using one of these fixtures must be listed here (checked at collection).
SHARED_RESOURCE_GROUPS = {
    "slurm_cluster": ("slurm", {"test_slurm_cluster.py", "test_slurm_workflow.py"}),
    "tiny_workflow_results": ("tiny_workflow", {"test_readme.py", "test_workflow.py"}),
    "trained_model": ("trained_model", {"test_accuracy_command.py", "test_classic_guidance.py", "test_probe.py",
                                        "test_sampling.py"}),
}
GROUP_ORDER = [group for group, _ in SHARED_RESOURCE_GROUPS.values()]


def module_group(nodeid: str) -> str:
    """The worker group of a test: its shared-resource group, or else its module."""
    module = nodeid.split("::")[0]
    return next((group for group, modules in SHARED_RESOURCE_GROUPS.values() if Path(module).name in modules),
                module)


class SharedResourceScheduling(LoadScopeScheduling):
    """pytest-xdist's loadscope with the shared-resource groups as scopes."""

    def _split_scope(self, nodeid: str) -> str:
        return module_group(nodeid)


def pytest_xdist_make_scheduler(config, log):
    return SharedResourceScheduling(config, log) if config.getvalue("dist") == "loadscope" else None


def pytest_collection_modifyitems(items):
    """Tests that need the trained model (a minute of training) are slow: `make test-fast` leaves them out. Every
    user of a shared resource is in its group; the groups come first."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "trained_model" in fixtures:
            item.add_marker(pytest.mark.slow)
        for fixture, (group, modules) in SHARED_RESOURCE_GROUPS.items():
            if fixture in fixtures and module_group(item.nodeid) != group:
                raise pytest.UsageError(f"{item.nodeid} uses {fixture}: add its module to SHARED_RESOURCE_GROUPS "
                                        f"in {Path(__file__).name}")
    items.sort(key=lambda item: GROUP_ORDER.index(group) if (group := module_group(item.nodeid)) in GROUP_ORDER
               else len(GROUP_ORDER))


@pytest.fixture(scope="session")
def digits_root(tmp_path_factory) -> Path:
    from jointdiff.data.prepare import prepare_dataset
    root = tmp_path_factory.mktemp("data")
    prepare_dataset("digits", root)
    return root


def run_torch_free(code: str) -> subprocess.CompletedProcess:
    """`code` run by a fresh interpreter in the repository; the test fails if it fails or imports torch (the parts
    the workflow and the quick commands load must stay torch-free)."""
    proc = subprocess.run([sys.executable, "-c", f"import sys; {code}; assert 'torch' not in sys.modules, "
                           "'torch was imported'"], cwd=REPO, capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def subprocess_env(threads: int = 1) -> dict[str, str]:
    """Environment for child processes: the venv first on PATH, few threads (2 cores shared by the suite)."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["OMP_NUM_THREADS"] = str(thread_share(threads))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def no_network(monkeypatch):
    """Every connection attempt fails at once, as on a cluster node without internet."""
    def refuse(*args, **kwargs):
        raise OSError("network unreachable (disabled by the test)")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="session")
def inception_cache(tmp_path_factory):
    """The converted offline Inception weights, once per session, in a temporary cache (also for subprocesses:
    add the returned environment)."""
    from jointdiff.metrics.inception import CACHE_ENV, resolve_inception_weights
    cache = tmp_path_factory.mktemp("jointdiff-cache")
    saved = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(cache)
    try:
        yield resolve_inception_weights(), {CACHE_ENV: str(cache)}
    finally:
        os.environ.pop(CACHE_ENV) if saved is None else os.environ.__setitem__(CACHE_ENV, saved)


@pytest.fixture(scope="session")
def trained_model(digits_root, tmp_path_factory) -> Path:
    """A tiny joint model trained for 150 steps on digits (about a minute on one core)."""
    run_dir = tmp_path_factory.mktemp("run")
    flags = TINY_FLAGS + ["--num_steps", "150", "--batch_size", "32", "--save_interval", "150",
                          "--validation_interval", "50", "--channels_last", "True", "--ema_rate", "0.95"]
    proc = subprocess.run([sys.executable, "-m", "jointdiff", "train", *flags, "--dataroot", str(digits_root),
                           "--run-dir", str(run_dir), "--out", str(run_dir / "model.pt"), "--device", "cpu",
                           "--no-progress"], capture_output=True, text=True, env=subprocess_env(threads=2))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir / "model.pt"


@pytest.fixture(scope="session")
def tiny_workflow_results(digits_root, tmp_path_factory) -> Path:
    """The whole workflow run once on the tiny experiment (minutes): its working directory, holding config.yaml,
    results/ (its logs in results/logs/). Tests that change it put it back."""
    from workflow_helpers import run_snakemake, tiny_workflow
    workdir = tmp_path_factory.mktemp("tiny_workflow")
    run_snakemake(workdir, tiny_workflow(workdir, digits_root), "--cores", "2")
    return workdir
