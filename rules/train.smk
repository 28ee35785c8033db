# Joint training through torchrun: one process per GPU of the job (NCCL), or config train.cpu_processes on CPU (gloo);
# `jointdiff launch` holds the job's GPUs and starts torchrun on them (a single process it starts directly).
# Checkpoints live in results/<experiment>/checkpoints, which is not a declared output, so Snakemake never deletes
# them; rerunning the job resumes from the newest one (the log says "resumed from ... at step N"), and refuses one
# trained with other settings. A retry (after a time-out) asks for attempt x runtime, capped at the experiment's
# max_runtime. `exec`, and launch replacing itself by torchrun (or the one process), make it the job's process, so
# Snakemake's signals reach it; workers that outlive a killed torchrun checkpoint and exit by themselves.
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
        srun="",
        launch=launcher(exp_gpus, torchrun=True, cpu_processes=config["train"]["cpu_processes"]),
        flags=lambda wc: exp_cfg(wc).to_flags(),
        run_dir=run_dir,
        device=exp_device,
        stop_after=config["train"]["stop_after_steps"],
        # A function of the input, which Snakemake does not count among the settings whose change reruns a job:
        # trackers watch a run and change nothing in it, so one switched on later retrains nothing.
        trackers=lambda wc, input: tracker_flags(),
    threads: THREADS
    resources:
        gpu=exp_gpus,
        runtime=train_runtime,
        mem_mb=exp_mem_mb,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "exec {params.srun} {params.launch} --gpus {resources.gpu} --threads {threads} -- train "
        "{params.flags} --run-dir {params.run_dir:q} --out {output.model:q} "
        "--device {params.device} --stop-after-steps {params.stop_after} {params.trackers} > {log:q} 2>&1"


# An experiment with `nodes: N` > 1 (SLURM only): the plugin's MPI mode (an `mpi` resource) runs the command in the
# job itself instead of under `srun -n1`; srun then starts `jointdiff launch` once per node, whose torchruns meet at
# a c10d rendezvous on the job's first node. Every process of every node takes its share of the global batch.
# `gpus` are per node (gres, so SLURM cannot split them unevenly).
use rule train as train_multinode with:
    wildcard_constraints:
        experiment=experiments_pattern(MULTI_NODE_EXPERIMENTS),
    params:
        srun=lambda wc: f"srun --nodes={exp_nodes(wc)} --ntasks-per-node=1 --kill-on-bad-exit=1",
        launch=launcher(exp_gpus, torchrun=True, cpu_processes=config["train"]["cpu_processes"], multinode=True),
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
rule noised_classifier:
    input:
        manifest=exp_manifest,
    output:
        model=f"{RESULTS}/{{experiment}}/noised_classifier.pt",
    log:
        f"{LOGS}/train/{{experiment}}_noised_classifier.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{experiment}}_noised_classifier.tsv"
    params:
        launch=launcher(),
        flags=noised_classifier_flags,
        run_dir=lambda wc: f"{RESULTS}/{wc.experiment}/noised_classifier",
        device=exp_device,
    threads: THREADS
    resources:
        gpu=one_gpu,
        runtime=exp_runtime,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "{params.launch} --gpus {resources.gpu} --threads {threads} -- noised-classifier "
        "{params.flags} --run-dir {params.run_dir:q} "
        "--device {params.device} --out {output.model:q} > {log:q} 2>&1"
