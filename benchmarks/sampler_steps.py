"""What fewer sampler steps cost in FID: one trained model, the same seeds, several samplers and step counts.

    python -m benchmarks.sampler_steps --model results/digits_demo/model.pt --dataroot data \
        --dataset digits --samples 200 --settings ancestral:500,ancestral:100,ancestral:20,ddim:50,ddim:20

Each setting runs the real commands — `jointdiff sample` (timed) then `jointdiff fid` against the same seeded
reference subset — and appends one JSON line (sampler, steps, seconds, FID, precision, recall, KID) to
benchmarks/results/sampler_steps.jsonl. The sampling time is the cost; the FID beside it is what it buys.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/sampler_steps.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.common import RESULTS_DIR, append_jsonl, environment  # noqa: E402


def jointdiff(*args: str) -> float:
    """Run one `jointdiff` command; its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "jointdiff", *args], check=True)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--dataroot", required=True)
    p.add_argument("--dataset", required=True)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--reference-limit", type=int, default=500)
    p.add_argument("--settings", default="ancestral:500,ancestral:100,ancestral:20,ddim:50,ddim:20",
                   help="comma list of sampler:steps (0 steps = all T)")
    p.add_argument("--clip-x0", action="store_true")
    p.add_argument("--out", default=str(RESULTS_DIR / "sampler_steps.jsonl"))
    args = p.parse_args()

    env = environment(torch.device("cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        for setting in args.settings.split(","):
            sampler, steps = setting.split(":")
            samples, metrics = Path(tmp) / f"{sampler}{steps}.npz", Path(tmp) / f"{sampler}{steps}.json"
            sample_s = jointdiff("sample", "--model", args.model, "--seeds", f"0-{args.samples - 1}",
                                 "--sampler", sampler, "--steps", steps, "--device", "cpu", "--out", str(samples),
                                 *(["--clip-x0"] if args.clip_x0 else []))
            fid_s = jointdiff("fid", "--samples", str(samples), "--dataset", args.dataset, "--dataroot",
                              args.dataroot, "--metrics", "fid,prc,kid", "--smoke", "--reference-limit",
                              str(args.reference_limit), "--device", "cpu", "--out", str(metrics))
            result = json.loads(metrics.read_text())
            record = {"benchmark": "sampler_steps", "model": args.model, "sampler": sampler, "steps": int(steps),
                      "clip_x0": args.clip_x0, "n_samples": args.samples, "n_reference": result["n_reference"],
                      "sample_s": round(sample_s, 1), "fid_command_s": round(fid_s, 1),
                      **{k: result.get(k) for k in ("fid", "precision", "recall", "kid_mean")}, **env}
            append_jsonl(Path(args.out), [record])
            print(json.dumps({k: record[k] for k in ("sampler", "steps", "sample_s", "fid", "precision",
                                                     "recall", "kid_mean")}), flush=True)


if __name__ == "__main__":
    main()
