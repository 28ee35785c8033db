"""Experiment trackers, offline: TensorBoard's events read back by TensorBoard's own reader, W&B's offline run files
read record by record, both against train_log.jsonl, across a resume that relogs steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_train import read_log, run_training


def wandb_records(path: Path) -> list:
    """The records of a W&B run file (.wandb): a 7-byte header, then LevelDB log blocks of protobuf Records."""
    from wandb.proto import wandb_internal_pb2
    data, block, pos, pending, records = path.read_bytes(), 32768, 7, b"", []
    assert data[:4] == b":W&B", path
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        pending += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST: a whole record
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def test_tensorboard_and_offline_wandb_get_every_record_once_across_a_resume(digits_root, tmp_path, monkeypatch,
                                                                             no_network):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2
    for name, value in (("WANDB_MODE", "offline"), ("WANDB_SILENT", "true"), ("WANDB_DIR", str(tmp_path / "wb")),
                        ("WANDB_CONFIG_DIR", str(tmp_path / "wb-config")), ("WANDB_CACHE_DIR", str(tmp_path / "wb"))):
        monkeypatch.setenv(name, value)
    run = tmp_path / "run"
    flags = ("--num_steps", "8", "--save_interval", "4", "--log-interval", "1", "--plot_interval", "4",
             "--tracker", "tensorboard", "--tracker", "wandb", "--wandb-mode", "offline")
    run_training(digits_root, run, *flags)
    first = {r["step"]: r for r in read_log(run) if not r.get("final")}
    # As after a kill past the checkpoint of step 4: the rerun resumes there and logs steps 5-8 again.
    (run / "model.pt").unlink()
    (run / "checkpoints" / "ckpt-000000008.pt").unlink()
    run_training(digits_root, run, *flags)
    records = read_log(run)
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6, 7, 8, 8]

    # TensorBoard: each number of each record once, at its step, the resumed run's values past step 4.
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    keys = {k for r in records for k, v in r.items() if isinstance(v, float) and k != "time"}
    assert {"loss", "loss_diffusion", "loss_classifier", "lr", "images_per_s", "acc_raw", "acc_ema",
            "acc_ema_full"} <= keys <= set(events.Tags()["scalars"])
    for key in keys:
        logged = [(e.step, e.value) for e in events.Scalars(key)]
        assert logged == [(r["step"], pytest.approx(r[key], rel=1e-6)) for r in records if key in r], key
    assert [e.step for e in events.Images("progress")] == [4, 8]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(
        events.SummaryMetadata("_hparams_/session_start_info").plugin_data.content).session_start_info.hparams
    assert hparams["num_steps"].number_value == 8 and hparams["dataset"].string_value == "digits"

    # W&B: two offline runs of the same run id (kept in the run directory); the config, and every step once
    # (the resumed run has none to add: W&B keeps the first run's steps 5-8).
    run_id = json.loads((run / "trackers.json").read_text())["wandb_id"]
    files = sorted(run.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 2 and all(f.name == f"run-{run_id}.wandb" for f in files)
    steps, logged_keys = [], set()
    for records_of_run in map(wandb_records, files):
        assert {r.run.run_id for r in records_of_run if r.WhichOneof("record_type") == "run"} == {run_id}
        config = {u.key: json.loads(u.value_json) for r in records_of_run
                  for u in {"run": r.run.config, "config": r.config}.get(r.WhichOneof("record_type"), r.config).update}
        assert config["num_steps"] == 8 and config["dataset"] == "digits"
        for r in records_of_run:
            if r.WhichOneof("record_type") == "history":
                items = {i.key or i.nested_key[0]: json.loads(i.value_json) for i in r.history.item}
                steps.append(r.history.step.num)
                logged_keys |= set(items)
                if "loss" in items:
                    assert items["loss"] == pytest.approx(first[r.history.step.num]["loss"])
    assert steps == [1, 2, 3, 4, 5, 6, 7, 8] and keys | {"progress"} <= logged_keys
