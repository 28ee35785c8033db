"""Run one jointdiff command as a job: on GPUs of its own, with one process per GPU it was given.

    python -m jointdiff launch --gpus 2 --threads 16 --torchrun -- train --config ... --run-dir ... --out ...
    python -m jointdiff launch --gpus 1 -- fid --samples ... --out ...
    python -m jointdiff launch --gpus 1 -- python my_script.py      # any program, on a GPU of its own

Every GPU rule of the workflow runs its command through this. It holds `--gpus` free GPUs of the machine
(`jointdiff.jobs.gpus`: the pool is CUDA_VISIBLE_DEVICES, else `nvidia-smi -L`; inside a SLURM job, its allocation),
waiting while other jobs hold them, names them in CUDA_VISIBLE_DEVICES, and replaces itself by the command:
`torchrun` with one process per GPU (or `--cpu-processes` on a CPU), or one `python -m jointdiff` process (also
for a `--torchrun` job with a single process on a single node, which torchrun would only start more slowly). The
hold ends when the command's process ends. The job's log starts with the GPUs it got.

--gpus is the job's allocation (Snakemake's `resources.gpu`, which it scales down to a `--resources gpu=N` cap);
--experiment-gpus what its experiment asks for, so that a scaled-down job says so. A SLURM job that asked for its
GPUs through gres (`resources.gpu` 0: multi-node jobs, sites without --gpus) runs on --experiment-gpus of them per
node. With --nodes N > 1 (`srun` starts this once per node) the torchruns of all nodes meet at a rendezvous on
the job's first node.
"""

from __future__ import annotations

import argparse
import os
import sys

from jointdiff.errors import UserError
from jointdiff.jobs.gpus import JOB_GPUS_ENV, hold_gpus, machine_pool
from jointdiff.jobs.launch import job_argv, job_gpus, job_processes, rendezvous_flags, under_torchrun


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gpus", type=int, default=0, metavar="N", help="GPUs of this job, per node (default 0: CPU)")
    p.add_argument("--experiment-gpus", type=int, default=None, metavar="N",
                   help="GPUs the experiment asks for (default: --gpus); more than --gpus means scaled down")
    p.add_argument("--cpu-processes", type=int, default=1, metavar="N", help="torchrun processes without GPUs")
    p.add_argument("--threads", type=int, default=0, metavar="N",
                   help="the job's CPU threads, shared out as OMP_NUM_THREADS per process (default: unchanged)")
    p.add_argument("--torchrun", action="store_true", help="start the command under torchrun (train, sample)")
    p.add_argument("--nodes", type=int, default=1, metavar="N", help="nodes of a SLURM job (one torchrun each)")
    p.add_argument("job", nargs=argparse.REMAINDER, metavar="-- COMMAND ...", help="the jointdiff command to run")


def run(args: argparse.Namespace) -> int:
    job = args.job[1:] if args.job[:1] == ["--"] else args.job
    if not job:
        raise UserError("no command after --, e.g. `launch --gpus 1 -- fid ...`")
    if args.gpus < 0 or args.cpu_processes < 1 or args.nodes < 1 or args.threads < 0:
        raise UserError("--gpus and --threads must be >= 0, --cpu-processes and --nodes >= 1")
    wanted = args.gpus if args.experiment_gpus is None else args.experiment_gpus
    gpus = job_gpus(job[0], args.gpus, wanted, args.nodes)
    from jointdiff.cli import COMMANDS
    ours = job[0] in COMMANDS
    processes = job_processes(ours, gpus, args.cpu_processes, args.torchrun)
    torchrun = under_torchrun(args.torchrun, processes, args.nodes)
    rendezvous = rendezvous_flags(args.nodes) if torchrun else []
    argv = job_argv(job, ours, processes, torchrun, rendezvous)
    held, where = {}, "no GPU (CUDA_VISIBLE_DEVICES is empty)"
    if gpus:
        pool = machine_pool()
        held = hold_gpus(gpus, pool, say=lambda line: print(f"launch: {line}", file=sys.stderr, flush=True))
        where = f"GPU(s) {','.join(held)} of {','.join(pool.ids)} ({pool.source})"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(held), JOB_GPUS_ENV: str(gpus)}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(max(1, args.threads // processes))
    print(f"launch: {job[0]} on {where}; {processes} process(es) per node"
          + (f" on {args.nodes} nodes" if args.nodes > 1 else "")
          + (f", OMP_NUM_THREADS={env['OMP_NUM_THREADS']}" if args.threads else ""), file=sys.stderr, flush=True)
    if 0 < gpus < wanted:
        print(f"launch: scaled down: the experiment asks for {wanted} GPUs, this job got {gpus}; the global "
              f"batch stays the same, split over {processes} processes", file=sys.stderr, flush=True)
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError as err:
        raise UserError(f"no program {argv[0]!r} to run") from err
