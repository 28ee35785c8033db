"""The training command as users run it: real torchrun processes (gloo), real kills, real checkpoints."""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import logging
import re
import os
import signal
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import BIN, TINY_FLAGS, subprocess_env
from jointdiff.cli import main
from jointdiff.config import config_from_dict
from jointdiff.errors import ConfigError
from jointdiff.jobs.resume import check_run_dir
from jointdiff.train.checkpoint import checkpoint_path, list_checkpoints, load_latest_checkpoint, save_checkpoint


def train_command(root: Path, run_dir: Path, *extra: str, nproc: int = 0) -> list[str]:
    launcher = ([str(BIN / "torchrun"), "--standalone", f"--nproc-per-node={nproc}", "-m", "jointdiff"] if nproc
                else [sys.executable, "-m", "jointdiff"])
    return [*launcher, "train", *TINY_FLAGS, "--dataroot", str(root), "--run-dir", str(run_dir),
            "--out", str(run_dir / "model.pt"), "--device", "cpu", "--no-progress", *extra]


def run_training(root: Path, run_dir: Path, *extra: str, nproc: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run(train_command(root, run_dir, *extra, nproc=nproc), capture_output=True, text=True,
                          env=subprocess_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    state = torch.load(run_dir / "model.pt", map_location="cpu", weights_only=False)
    return {f"{kind}.{k}": v for kind in ("model", "ema") for k, v in state[kind].items()
            if v.is_floating_point()}


def assert_same_weights(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    worst = max((x - b[k]).abs().max().item() for k, x in a.items())
    assert worst <= atol, f"largest weight difference {worst:.3g} > {atol}"


def read_log(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_torchrun_processes_see_the_same_global_batch(digits_root, tmp_path):
    """Global batch 8 as 1 x 8 and as 2 x 4 (gloo): the first step's losses are the same numbers, so both runs
    drew the same images, timesteps and noise and normalised the head with the same (cross-rank) statistics.

    Weights are compared in test_ddp_gradients_match_one_process: after an Adam step they cannot be, since
    Adam turns the rounding noise of near-zero gradients (e.g. conv biases under GroupNorm) into ±lr moves."""
    steps = ["--num_steps", "2", "--save_interval", "2", "--log-interval", "1"]
    run_training(digits_root, tmp_path / "one", *steps)
    run_training(digits_root, tmp_path / "two", *steps, nproc=2)
    one, two = read_log(tmp_path / "one"), read_log(tmp_path / "two")
    for key in ("loss", "loss_diffusion", "loss_classifier", "train_batch_acc"):
        assert two[0][key] == pytest.approx(one[0][key], rel=1e-5), key
    assert two[-1]["final"] and 0 <= two[-1]["acc_ema_full"] <= 1


@pytest.mark.slow
def test_two_processes_take_the_same_semi_supervised_steps_as_one(digits_root, tmp_path):
    """With half the labels hidden, 1 x 8 and 2 x 4 take classifier steps at the same steps on the same images:
    the buffer fills to the global batch, not to a rank's share. The 2-process run resumes the 1-process run's
    checkpoint of step 2, whose buffer is not empty, so the saved buffer is global too. (lr 1e-9: the steps'
    losses compare at every step, not only the first, see above. Seed 1: with seed 0 the label mask and the first
    epoch's order are the same permutation, so the first half epoch is all labelled.)"""
    steps = ["--num_steps", "6", "--save_interval", "2", "--log-interval", "1", "--labelled_data_share", "0.5",
             "--lr", "1e-9", "--seed", "1"]
    run_training(digits_root, tmp_path / "one", *steps)
    run_training(digits_root, tmp_path / "two", *steps, nproc=2)
    step_two = checkpoint_path(tmp_path / "one" / "checkpoints", 2)
    (tmp_path / "resumed" / "checkpoints").mkdir(parents=True)
    shutil.copy(step_two, checkpoint_path(tmp_path / "resumed" / "checkpoints", 2))
    run_training(digits_root, tmp_path / "resumed", *steps, nproc=2)
    one, two, resumed = (read_log(tmp_path / run) for run in ("one", "two", "resumed"))
    classifier_steps = [r["step"] for r in one[:6] if r["loss_classifier"] > 0]
    assert classifier_steps and len(classifier_steps) < 6, classifier_steps
    for key in ("loss", "loss_diffusion", "loss_classifier", "train_batch_acc"):
        assert [r[key] for r in two[:6]] == pytest.approx([r[key] for r in one[:6]], rel=1e-5), key
    assert len(torch.load(step_two, weights_only=False)["labelled_buffer"]["indices"]) > 0
    assert [r["step"] for r in resumed[:4]] == [3, 4, 5, 6]
    for key in ("loss", "loss_diffusion", "loss_classifier", "train_batch_acc"):
        assert [r[key] for r in resumed[:4]] == pytest.approx([r[key] for r in one[2:6]], rel=1e-5), key


def _ddp_worker(rank: int, port: int, out: str) -> None:
    """One of two gloo processes: the training step's gradients for its half of the global batch."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    grads = _step_gradients(world_size=2, rank=rank)
    if rank == 0:
        torch.save(grads, out)
    torch.distributed.destroy_process_group()


def _step_gradients(world_size: int, rank: int) -> dict[str, torch.Tensor]:
    from jointdiff import distributed as jd_dist
    from jointdiff.config import load_config
    from jointdiff.train.crossrank_batchnorm import convert_to_crossrank
    from jointdiff.diffusion import build_diffusion
    from jointdiff.model import build_model
    from jointdiff.train import TrainStep
    from torch.nn.parallel import DistributedDataParallel as DDP

    jd_dist.init_distributed("cpu")
    cfg = load_config(flags=TINY_FLAGS)
    torch.manual_seed(0)
    model = build_model(cfg)
    step = TrainStep(model, build_diffusion(cfg), cfg, None)
    if world_size > 1:
        convert_to_crossrank(model)
        step = DDP(step)
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(8, 1, 16, 16, generator=gen) * 2 - 1
    y = torch.arange(8) % 10
    t = torch.randint(0, 100, (8,), generator=gen)
    noise = torch.randn(x.shape, generator=gen)
    part = slice(rank * 8 // world_size, (rank + 1) * 8 // world_size)
    step(x[part], y[part], t[part], noise[part])["loss"].backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


@pytest.mark.slow
def test_ddp_gradients_match_one_process(tmp_path):
    """The averaged gradient of 2 processes x 4 images equals 1 process x 8, head BatchNorm included."""
    import socket
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "grads.pt"
    mp.spawn(_ddp_worker, args=(port, str(out)), nprocs=2)
    two = torch.load(out)
    torch.set_num_threads(1)
    one = _step_gradients(world_size=1, rank=0)
    scale = max(g.abs().max().item() for g in one.values())
    worst = max((one[k] - two[k]).abs().max().item() for k in one)
    assert worst <= 1e-5 * scale, f"gradients differ by {worst:.3g} (largest gradient {scale:.3g})"
    assert any(two[k].abs().max() > 0 for k in two if k.startswith("head."))


@pytest.mark.slow
def test_microbatches_accumulate_to_the_same_step(digits_root, tmp_path):
    """--microbatch 2 accumulates 4 micro-batches into one optimizer step equal to the whole batch's.

    After one Adam step an element moves by about ±lr whatever its gradient's size, so the rounding noise of
    near-zero gradients may flip a few signs: all elements agree within 2·lr and nearly all exactly."""
    steps = ["--num_steps", "1", "--save_interval", "1", "--train_with_classifier", "False", "--log-interval", "1"]
    run_training(digits_root, tmp_path / "whole", *steps)
    run_training(digits_root, tmp_path / "micro", *steps, "--microbatch", "2")
    assert read_log(tmp_path / "micro")[0]["loss"] == pytest.approx(read_log(tmp_path / "whole")[0]["loss"], rel=1e-6)
    whole, micro = final_weights(tmp_path / "whole"), final_weights(tmp_path / "micro")
    diffs = torch.cat([(whole[k] - micro[k]).abs().flatten() for k in whole if k.startswith("model.")])
    assert diffs.max() <= 2e-3 + 1e-6  # 2 * lr
    assert (diffs <= 1e-6).float().mean() >= 0.99


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_to_the_same_weights(digits_root, tmp_path):
    steps = ["--num_steps", "40", "--save_interval", "5"]
    run_training(digits_root, tmp_path / "straight", *steps)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(train_command(digits_root, killed, *steps), env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list_checkpoints(killed / "checkpoints") and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = list_checkpoints(killed / "checkpoints")
    assert kept and not (killed / "model.pt").exists(), "the run finished before it could be killed"
    killed_at = kept[-1][0]
    assert killed_at < 40

    rerun = run_training(digits_root, killed, *steps)
    assert f"at step {killed_at}" in rerun.stderr
    assert_same_weights(final_weights(tmp_path / "straight"), final_weights(killed), atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])  # SIGINT: Ctrl-C, or torchrun passing it on
def test_a_stop_signal_checkpoints_and_exits_3(digits_root, tmp_path, sig):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(train_command(digits_root, run_dir, "--num_steps", "100000", "--save_interval", "100000"),
                            env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (run_dir / "train_log.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, err[-2000:]
    assert list_checkpoints(run_dir / "checkpoints"), f"no checkpoint written on {sig.name}"
    assert "rerun the same command to resume" in err


def test_corrupt_newest_checkpoint_is_skipped_with_a_warning(tmp_path, caplog):
    ckpt = tmp_path / "checkpoints"
    save_checkpoint({"step": 3, "model": {}}, ckpt, 3, keep=5)
    save_checkpoint({"step": 6, "model": {}}, ckpt, 6, keep=5)
    newest = list_checkpoints(ckpt)[-1][1]
    newest.write_bytes(newest.read_bytes()[:20])  # cut short, as by a full disk
    state, path = load_latest_checkpoint(ckpt)
    assert state["step"] == 3 and path.name == "ckpt-000000003.pt"
    assert "unreadable" in caplog.text and newest.name in caplog.text


def test_checkpoint_rotation_keeps_the_newest(tmp_path):
    for step in (1, 2, 3, 4):
        save_checkpoint({"step": step}, tmp_path, step, keep=2)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [3, 4]
    assert not list(tmp_path.glob("*.tmp"))


def test_rotation_never_deletes_new_checkpoints_for_unreadable_later_ones(tmp_path):
    """Every checkpoint unreadable, so the run restarts at 0: its new checkpoints are kept (the old code kept the
    3 highest steps, the broken ones, and deleted each new one), and the broken ones are replaced as it passes them."""
    for step in (100, 200, 300):
        checkpoint_path(tmp_path, step).write_bytes(b"cut short")
    for step in (10, 20, 30, 40):
        save_checkpoint({"step": step}, tmp_path, step, keep=3)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [20, 30, 40, 100, 200, 300]
    assert load_latest_checkpoint(tmp_path)[0]["step"] == 40
    save_checkpoint({"step": 100}, tmp_path, 100, keep=3)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [30, 40, 100, 200, 300]
    assert load_latest_checkpoint(tmp_path)[0]["step"] == 100


def test_missing_dataset_fails_before_training(tmp_path):
    proc = subprocess.run(train_command(tmp_path / "nodata", tmp_path / "run", "--num_steps", "2"),
                          capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 2
    assert "digits" in proc.stderr and "jointdiff prepare" in proc.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_batch_not_divisible_by_processes_is_refused(digits_root, tmp_path):
    proc = subprocess.run(train_command(digits_root, tmp_path / "run", "--batch_size", "7", "--num_steps", "1",
                                        nproc=2), capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode != 0 and "batch_size 7 is not divisible by the 2 processes" in proc.stderr


def test_diverging_loss_stops_with_the_step_and_last_checkpoint(digits_root, tmp_path):
    proc = subprocess.run(train_command(digits_root, tmp_path / "run", "--lr", "1e30", "--num_steps", "20",
                                        "--log-interval", "1", "--save_interval", "1"),
                          capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert re.search(r"the loss became NaN/inf at step \d+ .*last good checkpoint: \S+", proc.stderr)
    assert not (tmp_path / "run" / "model.pt").exists()


def test_progress_grids_every_plot_interval(digits_root, tmp_path):
    run_training(digits_root, tmp_path / "run", "--num_steps", "2", "--plot_interval", "2", "--save_interval", "2")
    grids = list((tmp_path / "run" / "progress").glob("step-*.png"))
    assert [g.name for g in grids] == ["step-000000002.png"] and grids[0].stat().st_size > 0


# --- one run, one writer, one record per step ---------------------------------------------------------------------
def run_files(run_dir: Path) -> dict[str, bytes]:
    return {name: (run_dir / name).read_bytes() for name in ("model.pt", "config.json", "train_log.jsonl")}


@pytest.fixture(scope="module")
def ten_step_run(digits_root, tmp_path_factory) -> Path:
    """A finished 10-step run with checkpoints at 5 and 10; tests resume copies of it."""
    run_dir = tmp_path_factory.mktemp("ten_steps") / "run"
    run_training(digits_root, run_dir, "--num_steps", "10", "--save_interval", "5")
    return run_dir


@pytest.mark.parametrize("flag, value, message", [
    ("--lr", "2e-3", "lr 0.001 -> 0.002"),
    ("--num_channels", "64", "num_channels 32 -> 64"),  # another architecture: no raw state_dict error
    ("--num_steps", "5", "num_steps 5 is below step 10"),
])
def test_resuming_with_other_settings_is_refused_before_the_run_is_touched(digits_root, ten_step_run, tmp_path, flag,
                                                                           value, message):
    run_dir = tmp_path / "run"
    shutil.copytree(ten_step_run, run_dir)
    before = run_files(run_dir)
    proc = subprocess.run(train_command(digits_root, run_dir, "--num_steps", "10", "--save_interval", "5", flag, value),
                          capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 2, proc.stderr[-2000:]
    error = proc.stderr.strip().splitlines()[-1]
    assert message in error and "ckpt-000000010.pt" in error and "--run-dir" in error
    assert run_files(run_dir) == before


def test_a_run_directory_is_checked_by_its_config_file_without_loading_a_checkpoint(ten_step_run, tmp_path):
    """The workflow's check at validation (torch-free): the same refusal as the training loop's, by config.json."""
    cfg = config_from_dict(json.loads((ten_step_run / "config.json").read_text()))
    check_run_dir(dataclasses.replace(cfg, num_steps=20, save_interval=2), ten_step_run)  # may change
    with pytest.raises(ConfigError, match=r"ckpt-000000010.pt was trained with other settings \(lr 0.001 -> 0.002\)"):
        check_run_dir(dataclasses.replace(cfg, lr=2e-3), ten_step_run)
    with pytest.raises(ConfigError, match="num_steps 5 is below step 10"):
        check_run_dir(dataclasses.replace(cfg, num_steps=5), ten_step_run)
    run_dir = tmp_path / "run"
    shutil.copytree(ten_step_run, run_dir)
    (run_dir / "config.json").write_text('{"lr": 0.')  # cut short: left to the loop, which reads the checkpoint
    check_run_dir(dataclasses.replace(cfg, lr=2e-3), run_dir)
    shutil.rmtree(run_dir / "checkpoints")  # nothing to resume: a new run
    (run_dir / "config.json").write_text((ten_step_run / "config.json").read_text())
    check_run_dir(dataclasses.replace(cfg, lr=2e-3), run_dir)


class FullDisk(io.RawIOBase):
    """A file on a disk that fills up after `room` bytes (the write raises ENOSPC, as the kernel's does)."""

    def __init__(self, f, room: int):
        self.f, self.room = f, room

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.f.write(data)


def test_a_full_disk_ends_the_run_in_one_line_and_the_rerun_resumes(digits_root, tmp_path, monkeypatch, capsys,
                                                                    caplog):
    """The second checkpoint's write runs out of space halfway through torch's zip writer."""
    run_dir = tmp_path / "run"
    real_save, saves = torch.save, []

    def save(obj, f, *args, **kwargs):
        saves.append(f)
        room = 10 ** 12 if len(saves) == 1 else 4096
        return real_save(obj, FullDisk(f, room) if hasattr(f, "write") else f, *args, **kwargs)
    monkeypatch.setattr(torch, "save", save)
    command = ["train", *TINY_FLAGS, "--dataroot", str(digits_root), "--run-dir", str(run_dir), "--out",
               str(run_dir / "model.pt"), "--device", "cpu", "--no-progress", "--num_steps", "6",
               "--save_interval", "2"]
    assert main(command) == 2
    error = capsys.readouterr().err.strip().splitlines()
    first = run_dir / "checkpoints" / "ckpt-000000002.pt"
    assert len([line for line in error if "error" in line]) == 1 and "Traceback" not in "\n".join(error)
    assert error[-1].startswith(f"jointdiff train: error: no space left on the device for {run_dir / 'checkpoints'}"
                                f"/ckpt-000000004.pt: it needs about "), error[-1]
    assert f"{first} (step 2) is intact and a rerun resumes from it" in error[-1]
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == [first.name]  # no temporary file left behind

    monkeypatch.setattr(torch, "save", real_save)
    caplog.set_level(logging.INFO)
    assert main(command) == 0
    assert f"resumed from {first} at step 2" in caplog.text
    assert torch.load(run_dir / "model.pt", weights_only=False)["step"] == 6


def test_a_resumed_run_may_train_longer(digits_root, tmp_path):
    run_dir = tmp_path / "run"
    run_training(digits_root, run_dir, "--num_steps", "6", "--save_interval", "3")
    longer = run_training(digits_root, run_dir, "--num_steps", "9", "--save_interval", "3")
    assert "at step 6" in longer.stderr
    assert torch.load(run_dir / "model.pt", weights_only=False)["step"] == 9


def test_log_rows_average_their_own_steps_and_appear_once_after_a_resume(digits_root, tmp_path):
    """Rows every 3 steps; the run loses its newest checkpoint (8) and resumes at 4: the rows past 4 are written
    again, once, and each row averages the steps since the previous row (2 after the resume and at the end)."""
    run_training(digits_root, tmp_path / "per_step", "--num_steps", "8", "--save_interval", "8", "--log-interval", "1")
    loss = {r["step"]: r["loss"] for r in read_log(tmp_path / "per_step") if not r.get("final")}

    run_dir = tmp_path / "run"
    steps = ["--num_steps", "8", "--save_interval", "4", "--log-interval", "3"]
    run_training(digits_root, run_dir, *steps)
    (run_dir / "checkpoints" / "ckpt-000000008.pt").unlink()
    assert "at step 4" in run_training(digits_root, run_dir, *steps).stderr

    rows = read_log(run_dir)
    assert [(r["step"], bool(r.get("final"))) for r in rows] == [(3, False), (6, False), (8, False), (8, True)]
    expected = {3: (1, 2, 3), 6: (5, 6), 8: (7, 8)}  # after the resume at 4 the row at 6 covers steps 5 and 6
    for row in rows[:3]:
        mean = sum(loss[s] for s in expected[row["step"]]) / len(expected[row["step"]])
        assert row["loss"] == pytest.approx(mean, rel=1e-5), row["step"]


def lock_is_free(run_dir: Path) -> bool:
    import fcntl
    with open(run_dir / "train.lock", "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def wait_until(what: str, predicate, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_second_training_into_the_same_run_dir_is_refused_naming_the_first(digits_root, tmp_path):
    run_dir = tmp_path / "run"
    first = subprocess.Popen(train_command(digits_root, run_dir, "--num_steps", "100000", "--save_interval", "100000"),
                             env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until("the first training's log", (run_dir / "train_log.jsonl").exists)
        log_before = (run_dir / "train_log.jsonl").read_text()
        second = subprocess.run(train_command(digits_root, run_dir, "--num_steps", "100000"), capture_output=True,
                                text=True, env=subprocess_env(), timeout=300)
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"run directory {run_dir} is in use by pid {first.pid}" in second.stderr
        assert (run_dir / "train_log.jsonl").read_text().startswith(log_before)
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)
    assert lock_is_free(run_dir)


def processes_using(path: Path) -> list[int]:
    """PIDs whose command line mentions path."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(path) in (proc / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_workers_checkpoint_and_exit_when_torchrun_is_killed(digits_root, tmp_path):
    """torchrun puts its workers in sessions of their own, so SIGKILL to its process group (a killed Snakemake)
    misses them; they notice their launcher is gone, checkpoint and exit, freeing the run directory."""
    run_dir, output = tmp_path / "run", tmp_path / "output.log"
    with open(output, "w") as out:
        torchrun = subprocess.Popen(train_command(digits_root, run_dir, "--num_steps", "100000", "--save_interval",
                                                  "5", nproc=2), env=subprocess_env(), stdout=out, stderr=out)
    wait_until("a checkpoint", lambda: list_checkpoints(run_dir / "checkpoints"))
    os.kill(torchrun.pid, signal.SIGKILL)
    torchrun.wait()
    wait_until("the workers to exit", lambda: not processes_using(run_dir), timeout=120)
    assert lock_is_free(run_dir)
    text = output.read_text()
    assert f"torchrun (pid {torchrun.pid}) is gone" in text and "rerun the same command to resume" in text, text[-3000:]
