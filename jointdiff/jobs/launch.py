"""The processes of a job: how many, and the command line that starts them (torchrun or one process)."""

from __future__ import annotations

import os
import subprocess
import sys

from jointdiff.errors import UserError


def job_gpus(command: str, allocated: int, wanted: int, nodes: int, environ=os.environ) -> int:
    """The GPUs a job runs on, per node: its allocation, except in a SLURM job that got its GPUs through gres
    (resources.gpu 0: multi-node jobs, sites without --gpus), which runs on what its experiment asks for of the
    job's own allocation. A GPU experiment left with none is refused before anything starts."""
    gpus = wanted if nodes > 1 or (allocated == 0 and "SLURM_JOB_ID" in environ) else allocated
    if wanted > 0 and gpus == 0:
        raise UserError(f"{command}: its experiment asks for {wanted} GPU(s) but this job got none (Snakemake's gpu "
                        "limit is 0: no GPU found, or --resources gpu=0); run it where there are GPUs, or set the "
                        "experiment's resources.gpus to 0 to run it on the CPU")
    return gpus


def job_processes(jointdiff_command: bool, gpus: int, cpu_processes: int, torchrun: bool) -> int:
    """Processes per node: one per GPU of the job, or cpu_processes without GPUs, under torchrun; else 1 (a program
    other than jointdiff's uses its GPUs as it likes)."""
    if torchrun:
        return gpus or cpu_processes
    if gpus > 1 and jointdiff_command:
        raise UserError(f"--gpus {gpus} needs --torchrun: one jointdiff process uses one GPU")
    return 1


def under_torchrun(torchrun: bool, processes: int, nodes: int) -> bool:
    """Whether a job asked to run under torchrun needs it: only to start several processes, or to meet other nodes.
    One process on one node runs as plain `python -m jointdiff`, the same single-process code path without
    torchrun's start-up (its agent, rendezvous and second interpreter: about 4 s a job on a 2-core CPU)."""
    return torchrun and (processes > 1 or nodes > 1)


def rendezvous_flags(nodes: int, environ=os.environ) -> list[str]:
    """torchrun's flags for this node: standalone on one node; on several, a c10d rendezvous on the SLURM job's
    first node (the job step keeps only SLURM_JOB_ID of the SLURM variables, so the nodes are looked up by it)."""
    if nodes == 1:
        return ["--standalone", "--nnodes=1"]
    job_id = environ.get("SLURM_JOB_ID")
    if not job_id:
        raise UserError(f"--nodes {nodes} runs only in a SLURM job (resources.nodes > 1 needs e.g. "
                        "--workflow-profile profiles/slurm)")
    nodelist = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%N"], capture_output=True, text=True,
                              check=True).stdout.strip()
    first = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                           check=True).stdout.split()[0]
    return [f"--nnodes={nodes}", "--rdzv-backend=c10d", f"--rdzv-id={job_id}",
            f"--rdzv-endpoint={first}:{20000 + int(job_id) % 20000}"]


def job_argv(job: list[str], jointdiff_command: bool, processes: int, torchrun: bool,
             rendezvous: list[str]) -> list[str]:
    """The command line that replaces this process: a jointdiff command (under torchrun, or one process), or any
    other program as it is given."""
    if not jointdiff_command:
        if torchrun:
            raise UserError(f"--torchrun starts jointdiff commands, not {job[0]!r}")
        return job
    if torchrun:
        return [sys.executable, "-m", "torch.distributed.run", *rendezvous, f"--nproc-per-node={processes}",
                "-m", "jointdiff", *job]
    return [sys.executable, "-m", "jointdiff", *job]
