# Joint training through torchrun: one process per GPU (NCCL), or config train.cpu_processes on CPU (gloo).
# Checkpoints live in results/<experiment>/checkpoints, which is not a declared output, so Snakemake never
# deletes them; rerunning the job resumes from the newest one (the log says "resumed from ... at step N"), and
# refuses one trained with other settings. A retry (after a time-out) asks for attempt x runtime, capped at the
# experiment's max_runtime. `exec` makes torchrun the job's process, so Snakemake's signals reach it; workers
# that outlive a killed torchrun checkpoint and exit by themselves.
rule train:
    input:
        manifest=exp_manifest,
    output:
        model=f"{RESULTS}/{{experiment}}/model.pt",
    log:
        f"{LOGS}/train/{{experiment}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{experiment}}.tsv"
    wildcard_constraints:
        experiment=experiments_pattern(SINGLE_NODE_EXPERIMENTS),
    params:
        launcher="torchrun --standalone --nnodes=1",
        flags=lambda wc: exp_cfg(wc).to_flags(),
        run_dir=run_dir,
        nproc=exp_processes,
        device=exp_device,
        device_is_cuda=lambda wc: int(exp_device(wc) == "cuda"),
        stop_after=config["train"]["stop_after_steps"],
    threads: config["train"]["threads"]
    resources:
        gpu=exp_gpus,
        runtime=train_runtime,
        mem_mb=exp_mem_mb,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        # The scheduler's GPU count wins when set (Snakemake scales `gpu` down to a --resources cap); with
        # gpu=0 (CPU runs, multi-node runs, sites that allocate GPUs through gres) the experiment's count decides.
        "NPROC=$(( {resources.gpu} > 0 ? {resources.gpu} : {params.nproc} )); "
        "export OMP_NUM_THREADS=$(( {threads} / NPROC > 0 ? {threads} / NPROC : 1 )); "
        "exec {params.launcher} --nproc-per-node=$NPROC -m jointdiff train {params.flags} "
        "--run-dir {params.run_dir:q} --out {output.model:q} --device {params.device} "
        "--expect-gpus $(( {params.device_is_cuda} * NPROC )) "
        "--stop-after-steps {params.stop_after} > {log:q} 2>&1"


# An experiment with `nodes: N` > 1 (SLURM only): the plugin's MPI mode (an `mpi` resource) runs the command in the
# job itself instead of under `srun -n1`; srun then starts one torchrun per node, and they meet at a c10d rendezvous
# on the job's first node. Every process of every node takes its share of the global batch. `gpus` are per node
# (gres, so SLURM cannot split them unevenly). The job step keeps only SLURM_JOB_ID of the SLURM variables, so the
# first node is looked up by the job id.
use rule train as train_multinode with:
    wildcard_constraints:
        experiment=experiments_pattern(MULTI_NODE_EXPERIMENTS),
    params:
        launcher=lambda wc: (
            f"srun --nodes={exp_nodes(wc)} --ntasks-per-node=1 --kill-on-bad-exit=1 "
            f"torchrun --nnodes={exp_nodes(wc)} --rdzv-backend=c10d --rdzv-id=${{SLURM_JOB_ID:?resources.nodes "
            f"{exp_nodes(wc)} runs only in a SLURM job, e.g. with --workflow-profile profiles/slurm}} "
            "--rdzv-endpoint=$(scontrol show hostnames $(squeue -h -j $SLURM_JOB_ID -o %N) | head -n1)"
            ":$((20000 + SLURM_JOB_ID % 20000))"
        ),
    resources:
        gpu=0,
        gres=lambda wc: f"gpu:{exp_gpus(wc)}" if exp_gpus(wc) else "",
        nodes=exp_nodes,
        tasks=exp_nodes,
        tasks_per_gpu=0,
        mpi="srun",
        runtime=train_runtime,
        mem_mb=exp_mem_mb,


# Classic guidance's noised classifier (the authors' classifier_train.py): trained apart from the diffusion model,
# on its dataset and its diffusion schedule. Checkpoints in results/<experiment>/noised_classifier/ (not outputs):
# a rerun resumes.
rule train_noised_classifier:
    input:
        manifest=exp_manifest,
    output:
        model=f"{RESULTS}/{{experiment}}/noised_classifier.pt",
    log:
        f"{LOGS}/train/{{experiment}}_noised_classifier.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{experiment}}_noised_classifier.tsv"
    params:
        flags=noised_classifier_flags,
        run_dir=lambda wc: f"{RESULTS}/{wc.experiment}/noised_classifier",
        device=exp_device,
    threads: config["train"]["threads"]
    resources:
        gpu=lambda wc: min(exp_gpus(wc), 1),
        runtime=lambda wc: exp_runtime_minutes(wc),
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff noised-classifier {params.flags} --run-dir {params.run_dir:q} "
        "--device {params.device} --out {output.model:q} > {log:q} 2>&1"
