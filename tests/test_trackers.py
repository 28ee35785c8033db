"""Experiment trackers, offline: TensorBoard's events read back by TensorBoard's own reader, W&B's offline run files
read record by record, both against train_log.jsonl, across a resume that relogs steps, and the final metrics
attached to the same tracker run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import subprocess_env
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


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch, no_network):
    """W&B offline, silent, with its files under tmp_path; no network."""
    for name, value in (("WANDB_MODE", "offline"), ("WANDB_SILENT", "true"), ("WANDB_DIR", str(tmp_path / "wb")),
                        ("WANDB_CONFIG_DIR", str(tmp_path / "wb-config")), ("WANDB_CACHE_DIR", str(tmp_path / "wb"))):
        monkeypatch.setenv(name, value)


def test_tensorboard_and_offline_wandb_get_every_record_once_across_a_resume(digits_root, tmp_path, offline_wandb):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2
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


def test_final_metrics_reach_the_trainings_tensorboard_dir_and_wandb_run(digits_root, tmp_path, offline_wandb):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from jointdiff import keys as K
    from jointdiff.atomic import atomic_write_json
    run = tmp_path / "run"
    trackers = ("--tracker", "tensorboard", "--tracker", "wandb", "--wandb-mode", "offline")
    run_training(digits_root, run, "--num_steps", "4", "--save_interval", "4", "--log-interval", "2", *trackers)
    metrics = run / "metrics"
    subprocess.run([sys.executable, "-m", "jointdiff", "accuracy", "--model", str(run / "model.pt"), "--dataroot",
                    str(digits_root), "--device", "cpu", "--out", str(metrics / "accuracy.json")],
                   check=True, capture_output=True, env=subprocess_env())
    # FID and guided scores need Inception weights and guided samples: their files as `jointdiff fid` and
    # `jointdiff score` write them (the numbers, beside fields that are no numbers to track).
    atomic_write_json(metrics / "fid_standard_ema.json", {K.KEY_FID: 123.5, K.KEY_PRECISION: 0.25, K.KEY_RECALL: 0.5,
                                                          K.KEY_KID_MEAN: None, K.KEY_PROTOCOL: "standard",
                                                          K.KEY_N_SAMPLES: 16, K.KEY_WEIGHTS: "ema"})
    atomic_write_json(metrics / "guided_ema_alpha10.json", {K.KEY_ALPHA: 10.0, K.KEY_WEIGHTS: "ema", K.KEY_N: 20,
                                                            K.KEY_OWN_TARGET_ACCURACY: 0.75,
                                                            K.KEY_OWN_PER_CLASS: {"0": 1.0},
                                                            K.KEY_INDEPENDENT_TARGET_ACCURACY: 0.375})
    files = [metrics / f for f in ("accuracy.json", "fid_standard_ema.json", "guided_ema_alpha10.json")]
    proc = subprocess.run([sys.executable, "-m", "jointdiff", "track-metrics", "--run-dir", str(run), "--metrics",
                           *map(str, files), *trackers, "--out", str(metrics / "tracked.json")],
                          capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 0, proc.stderr[-3000:]

    accuracy = json.loads(files[0].read_text())[K.KEY_WEIGHTS]
    expected = {f"final/{key}_{weights}": accuracy[weights][key] for weights in ("raw", "ema")
                for key in (K.KEY_ACCURACY, K.KEY_TOP5)}
    expected |= {"final/fid_standard_ema/fid": 123.5, "final/fid_standard_ema/precision": 0.25,
                 "final/fid_standard_ema/recall": 0.5, "final/guided_ema_alpha10/own": 0.75,
                 "final/guided_ema_alpha10/independent": 0.375}
    run_id = json.loads((run / "trackers.json").read_text())["wandb_id"]
    sent = json.loads((metrics / "tracked.json").read_text())
    assert sent["metrics"] == pytest.approx(expected) and sent["step"] == 4 and sent["wandb_id"] == run_id

    # TensorBoard: the training's log directory, each number once at the last step, the curves still there.
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    for key, value in expected.items():
        assert [(e.step, e.value) for e in events.Scalars(key)] == [(4, pytest.approx(value, rel=1e-6))], key
    assert [e.step for e in events.Scalars("loss")] == [2, 4]

    # W&B: a second offline run of the training's id, whose summary holds the numbers.
    runs = sorted(run.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(runs) == 2 and all(f.name == f"run-{run_id}.wandb" for f in runs)
    summary = {u.key or "/".join(u.nested_key): json.loads(u.value_json) for r in wandb_records(runs[-1])
               if r.WhichOneof("record_type") == "summary" for u in r.summary.update}
    assert {k: summary.get(k) for k in expected} == pytest.approx(expected)


def test_a_file_of_no_known_metric_is_refused(tmp_path):
    from jointdiff.errors import UserError
    from jointdiff.train.final_metrics import final_numbers
    path = tmp_path / "probe_ema.json"
    path.write_text(json.dumps({"probe_accuracy": [[0.5]]}))
    with pytest.raises(UserError, match="probe_ema.json: not an accuracy, FID or guided-score file"):
        final_numbers(path)
