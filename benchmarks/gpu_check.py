"""What the pipeline's own code costs on this machine's GPUs, and whether it waits on the host (about 5 minutes on
one H200):

    make gpu-check                     # or: python benchmarks/gpu_check.py [--quick]

1. Correctness on the paper's CIFAR10 model: the loss terms and gradients of fp32+cl, bf16 and bf16+cl against fp32
   on the same batch (dropout and augmentation off; tolerances: benchmarks/equivalence.py).
2. Per paper experiment (config/config.yaml's `experiments`), the code the workflow runs, at the settings it runs
   with (the experiment's `tf32`, `bf16` and `channels_last` through `jointdiff.gpu.precision`, cudnn.benchmark):
   - training: the loop's `StepRunner` fed by `rank_batches` (the batch assembly of an in-memory dataset on the
     GPU, random images of the experiment's shape), at the experiment's batch; with several GPUs also all of them
     under torchrun (DDP, cross-rank BatchNorm) - img/s, peak memory, host syncs per step;
   - sampling: `sample_loop` as the sample command runs it (float32 at the experiment's `tf32`, per-sample CPU
     generators) at the workflow's batch - image steps/s, host syncs per sampler step;
   - FID features (once): Inception pool3 of 32 px images in full float32 - img/s;
   and its GPU-hours: num_steps training steps + 50,000 samples at the workflow's sampler steps + their FID features.
Host syncs are counted under torch.cuda.set_sync_debug_mode("warn"): one warning per synchronising call.

Prints a table and appends JSON lines to benchmarks/results/gpu.jsonl ($OUT/gpu_check.jsonl when $OUT is set,
or --out). Without CUDA it stops at once: every number here is a GPU's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/gpu_check.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import yaml  # noqa: E402

from benchmarks.common import REPO, RESULTS_DIR, append_jsonl, environment  # noqa: E402
from jointdiff.config import ExperimentConfig, load_config  # noqa: E402

FID_SAMPLES = 50_000                  # the paper's FID sample count
WORKFLOW_CONFIG = REPO / "config" / "config.yaml"
DETERMINISTIC = {"dropout": 0.0, "classifier_dropout": 0.0, "classifier_augmentation": "none"}


# --- pure logic (tests/test_gpu_check.py runs it on a CPU) -----------------------------------------------------------
def paper_experiments(workflow_config: Path = WORKFLOW_CONFIG) -> tuple[list[str], dict[str, Any]]:
    """The experiments the workflow's config runs and its sampling settings."""
    config = yaml.safe_load(workflow_config.read_text())
    return list(config["experiments"]), dict(config["sampling"])


def experiment_config(name: str) -> ExperimentConfig:
    return load_config(REPO / "config" / "experiments" / f"{name}.yaml")


def sampler_steps(cfg: ExperimentConfig, sampling: dict[str, Any]) -> int:
    """Network calls per sample: the workflow's `steps`, or every timestep when it is 0 (the paper's sampler)."""
    return int(sampling["steps"]) or cfg.diffusion_steps


def gpu_hours(cfg: ExperimentConfig, steps_per_sample: int, rates: dict[str, float],
              samples: int = FID_SAMPLES) -> dict[str, float]:
    """GPU-hours of one experiment from measured rates: training (`train_img_per_s` at its batch), `samples`
    samples (`sample_img_steps_per_s`) and their FID features (`fid_img_per_s`)."""
    hours = {"train": cfg.num_steps * cfg.batch_size / rates["train_img_per_s"] / 3600,
             "sample": samples * steps_per_sample / rates["sample_img_steps_per_s"] / 3600,
             "fid": samples / rates["fid_img_per_s"] / 3600}
    return hours | {"total": sum(hours.values())}


def count_syncs(caught: list[warnings.WarningMessage]) -> int:
    """The synchronising calls among warnings recorded under torch.cuda.set_sync_debug_mode("warn")."""
    return sum("synchroniz" in str(w.message) for w in caught)


@contextlib.contextmanager
def recorded_syncs() -> Iterator[list[warnings.WarningMessage]]:
    """Every warning inside the block, with CUDA's sync debug mode at "warn" (count them with `count_syncs`)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield caught
        finally:
            torch.cuda.set_sync_debug_mode("default")


def require_cuda() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("gpu_check measures GPUs, and torch sees none here (torch.cuda.is_available() is False); "
                         "run it on a machine with a CUDA GPU")


# --- measurements -------------------------------------------------------------------------------------------------
def synthetic_data(cfg: ExperimentConfig, device: torch.device, count: int):
    """A TrainingData of `count` random images of the experiment's shape and labels, on the device as the loop
    holds small datasets (labels hidden at the experiment's labelled share)."""
    from jointdiff.data.datasets import InMemoryDataset
    from jointdiff.data.masking import known_labels, label_mask, mask_labels
    from jointdiff.train import GlobalBatchStream, TrainingData

    gen = torch.Generator().manual_seed(0)
    size, channels, classes = cfg.resolved_image_size(), cfg.resolved_channels(), cfg.resolved_num_classes()
    images = torch.randint(0, 256, (count, channels, size, size), dtype=torch.uint8, generator=gen)
    labels = (torch.randint(0, 2, (count, classes), generator=gen).float() if cfg.multi_label_classifier
              else torch.randint(0, classes, (count,), generator=gen))
    if cfg.labelled_data_share < 1:
        labels = mask_labels(labels, label_mask(count, cfg.labelled_data_share, cfg.seed))
    known = known_labels(labels)
    train_set = InMemoryDataset(images, labels).to(device)
    return TrainingData(train_set, train_set, GlobalBatchStream(count, cfg.batch_size, cfg.seed),
                        torch.arange(0), known)


def time_training(cfg: ExperimentConfig, info, steps: int, warmup: int) -> dict[str, Any]:
    """The loop's step (StepRunner on rank_batches) on this process's GPU: img/s of the global batch."""
    from jointdiff.data.datasets import loader_settings
    from jointdiff.diffusion import build_diffusion
    from jointdiff.gpu.precision import set_precision
    from jointdiff.train import LossTotals, StepRunner, build_state, rank_batches

    set_precision(cfg.tf32, benchmark=True)  # as the loop
    data = synthetic_data(cfg, info.device, max(4 * cfg.batch_size, 1024))
    state = build_state(cfg, info.device, info.world_size)
    runner = StepRunner(state, build_diffusion(cfg), cfg, info, data)
    total = warmup + 1 + steps
    batches = rank_batches(data.train_set, data.stream, info.rank, info.world_size, 0, total,
                           loader_settings(data.train_set, info.device, 0))
    totals = LossTotals(info.device)
    state.model.train()
    for _ in range(warmup):
        runner(*next(batches), totals)
    torch.cuda.synchronize()
    with recorded_syncs() as caught:
        runner(*next(batches), totals)
        syncs = count_syncs(caught)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        runner(*next(batches), totals)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"processes": info.world_size, "batch": cfg.batch_size, "steps": steps, "syncs_per_step": syncs,
            "train_img_per_s": steps * cfg.batch_size / seconds,
            "peak_mem_gb": torch.cuda.max_memory_allocated() / 2 ** 30}


def time_sampling(cfg: ExperimentConfig, device: torch.device, batch: int, steps: int) -> dict[str, Any]:
    """`sample_loop` as the sample command runs it, `steps` respaced steps on one batch: image steps/s."""
    from jointdiff.diffusion import build_diffusion, make_generators, sample_loop
    from jointdiff.model import build_model
    from jointdiff.gpu.precision import set_precision

    set_precision(cfg.tf32)  # as load_trained
    torch.manual_seed(0)
    model = build_model(cfg).to(device).eval().requires_grad_(False)  # float32, NCHW: as the sample command
    diffusion = build_diffusion(cfg).to(device)
    shape = (batch, cfg.resolved_channels(), cfg.resolved_image_size(), cfg.resolved_image_size())

    def run() -> None:
        sample_loop(lambda x, t: model(x, t), diffusion, make_generators(range(batch)), shape, steps=steps,
                    device=device)

    run()  # warm-up
    torch.cuda.synchronize()
    with recorded_syncs() as caught:
        run()
        syncs = count_syncs(caught)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    run()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"sample_batch": batch, "sample_steps_timed": steps, "syncs_per_sampler_step": syncs / steps,
            "sample_img_steps_per_s": batch * steps / seconds,
            "sample_peak_mem_gb": torch.cuda.max_memory_allocated() / 2 ** 30}


def time_fid_features(device: torch.device, count: int) -> dict[str, Any]:
    """FID's Inception pool3 features (full float32, TF32 off) of `count` random 32 px images: img/s."""
    from jointdiff.metrics.features import extract_inception_features
    from jointdiff.metrics.inception import resolve_inception_weights

    weights = resolve_inception_weights()
    images = torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    extract_inception_features(images[:250], weights, device=str(device), batch_size=250)  # warm-up
    torch.cuda.synchronize()
    start = time.perf_counter()
    extract_inception_features(images, weights, device=str(device), batch_size=250)
    torch.cuda.synchronize()
    return {"fid_img_per_s": count / (time.perf_counter() - start)}


def time_training_all_gpus(name: str, steps: int, warmup: int) -> dict[str, Any]:
    """`time_training` of experiment `name` on every visible GPU at once, one torchrun process each."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "train.json"
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={torch.cuda.device_count()}", str(Path(__file__).resolve()),
                   "--train-worker", name, "--worker-out", str(out), "--steps", str(steps), "--warmup", str(warmup)]
        subprocess.run(command, check=True, cwd=REPO)
        return json.loads(out.read_text())


def train_worker(name: str, out: Path, steps: int, warmup: int) -> None:
    """One torchrun process of `time_training_all_gpus`; rank 0 writes the result."""
    from jointdiff import distributed as jd_dist
    info = jd_dist.init_distributed("cuda")
    try:
        result = time_training(experiment_config(name), info, steps, warmup)
        if info.is_main:
            out.write_text(json.dumps(result))
    finally:
        jd_dist.cleanup()


def check_correctness(device: torch.device, batch: int) -> list[dict[str, Any]]:
    """fp32+cl, bf16 and bf16+cl against fp32 on the same batch of the CIFAR10 model."""
    from benchmarks.equivalence import compare
    from benchmarks.training import training_steps
    from benchmarks.variants import BASELINE, parse_variant, parse_variants

    cfg = load_config(REPO / "config/experiments/cifar10.yaml", overrides=DETERMINISTIC)
    names = ["fp32", "fp32+cl", "bf16", "bf16+cl"]
    results = {name: step.loss_and_grads()
               for name, step in training_steps(cfg, parse_variants(",".join(names)), device, batch,
                                                perturb=True).items()}
    return [{"section": "check", "variant": name, "batch": batch,
             **compare(results[BASELINE], results[name], "bf16" if parse_variant(name).bf16 else "fp32")}
            for name in names[1:]]


# ---------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer timed steps, no correctness check")
    parser.add_argument("--steps", type=int, default=20, metavar="N", help="timed training steps per experiment")
    parser.add_argument("--warmup", type=int, default=3, metavar="N", help="untimed training steps first")
    parser.add_argument("--sample-steps", type=int, default=10, metavar="N", help="sampler steps timed")
    parser.add_argument("--fid-images", type=int, default=5000, metavar="N", help="images for the FID rate")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE", help="JSON-lines file to append to")
    parser.add_argument("--train-worker", default=None, help=argparse.SUPPRESS)  # a torchrun process
    parser.add_argument("--worker-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    require_cuda()
    if args.train_worker:
        train_worker(args.train_worker, args.worker_out, args.steps, args.warmup)
        return []
    if args.quick:
        args.steps, args.sample_steps, args.fid_images = 5, 3, 1000
    device = torch.device("cuda", 0)
    out = args.out or (Path(os.environ["OUT"]) / "gpu_check.jsonl" if os.environ.get("OUT")
                       else RESULTS_DIR / "gpu.jsonl")
    started = time.monotonic()
    env = environment(device) | {"gpus": torch.cuda.device_count(), "quick": args.quick}
    rows: list[dict[str, Any]] = [] if args.quick else check_correctness(device, 64)

    from jointdiff import distributed as jd_dist
    one_gpu = jd_dist.DistInfo(0, 0, 1, device)
    fid = time_fid_features(device, args.fid_images)
    names, sampling = paper_experiments()
    for name in names:
        cfg = experiment_config(name)
        print(f"# {name} ({time.monotonic() - started:.0f} s)", flush=True)
        row = {"section": "experiment", "experiment": name, "tf32": cfg.tf32, "bf16": cfg.bf16,
               **time_training(cfg, one_gpu, args.steps, args.warmup),
               **time_sampling(cfg, device, int(sampling["batch_size"]), args.sample_steps), **fid}
        if torch.cuda.device_count() > 1:
            row["all_gpus"] = time_training_all_gpus(name, args.steps, args.warmup)
        row |= {"num_steps": cfg.num_steps, "sampler_steps": sampler_steps(cfg, sampling)}
        row["gpu_hours"] = gpu_hours(cfg, row["sampler_steps"], row)
        rows.append(row)

    for r in rows:
        if r["section"] == "check":
            print(f"check {r['variant']:<8} vs fp32: loss rel {r['loss_rel']:.1e}, grad cos {r['grad_cos']:.6f} "
                  f"{'OK' if r['ok'] else 'FAIL'}")
            continue
        hours = r["gpu_hours"]
        print(f"{r['experiment']:<13} train {r['train_img_per_s']:8.0f} img/s (batch {r['batch']}, "
              f"{r['peak_mem_gb']:.1f} GiB, {r['syncs_per_step']} syncs/step)  sample "
              f"{r['sample_img_steps_per_s']:8.0f} img*step/s ({r['syncs_per_sampler_step']:.2f} syncs/step)  "
              f"FID {r['fid_img_per_s']:.0f} img/s")
        if "all_gpus" in r:
            print(f"{'':13} {r['all_gpus']['processes']} GPUs: train {r['all_gpus']['train_img_per_s']:.0f} img/s, "
                  f"{r['all_gpus']['syncs_per_step']} syncs/step")
        print(f"{'':13} GPU-hours: train {hours['train']:.1f} ({r['num_steps']:,} steps) + 50k samples "
              f"{hours['sample']:.1f} ({r['sampler_steps']} steps each) + FID {hours['fid']:.2f} "
              f"= {hours['total']:.1f}")
    append_jsonl(out, ({"benchmark": "gpu_check", **r, **env} for r in rows))
    print(f"appended {len(rows)} lines to {out} in {time.monotonic() - started:.0f} s")
    if any(r["section"] == "check" and not r["ok"] for r in rows):
        sys.exit("FAILED correctness: " + ", ".join(r["variant"] for r in rows if r["section"] == "check"
                                                    and not r["ok"]))
    return rows


if __name__ == "__main__":
    main()
