# Joint training through torchrun: one process per GPU (NCCL), or config train.cpu_processes on CPU (gloo).
# Checkpoints live in results/<experiment>/checkpoints, which is not a declared output, so Snakemake never
# deletes them; rerunning the job resumes from the newest one (the log says "resumed from ... at step N").
# A retry (after a time-out) asks for attempt x runtime, capped at the experiment's max_runtime.
rule train:
    input:
        manifest=exp_manifest,
    output:
        model=f"{RESULTS}/{{experiment}}/model.pt",
    log:
        f"logs/train/{{experiment}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{experiment}}.tsv"
    params:
        flags=lambda wc: exp_cfg(wc).to_flags(),
        run_dir=run_dir,
        nproc=exp_processes,
        device=exp_device,
        device_is_cuda=lambda wc: int(exp_device(wc) == "cuda"),
        stop_after=config["train"]["stop_after_steps"],
    threads: config["train"]["threads"]
    resources:
        gpu=exp_gpus,
        runtime=lambda wc, attempt: min(attempt * exp_runtime_minutes(wc), exp_runtime_minutes(wc, "max_runtime")),
        mem_mb=lambda wc: exp_resources(wc)["mem_mb"],
    conda:
        "../envs/jointdiff.yaml"
    shell:
        # The scheduler's GPU count wins when set (Snakemake scales `gpu` down to a --resources cap); with
        # gpu=0 (CPU runs, or sites that allocate GPUs through gres) the experiment's count decides.
        "NPROC=$(( {resources.gpu} > 0 ? {resources.gpu} : {params.nproc} )); "
        "OMP_NUM_THREADS=$(( {threads} / NPROC > 0 ? {threads} / NPROC : 1 )) "
        "torchrun --standalone --nnodes=1 --nproc-per-node=$NPROC -m jointdiff train {params.flags} "
        "--run-dir {params.run_dir} --out {output.model} --device {params.device} "
        "--expect-gpus $(( {params.device_is_cuda} * NPROC )) "
        "--stop-after-steps {params.stop_after} > {log} 2>&1"


# Classic guidance's noised classifier (the authors' classifier_train.py): trained apart from the diffusion model,
# on its dataset and its diffusion schedule. Checkpoints in results/<experiment>/noised_classifier/ (not outputs):
# a rerun resumes.
rule train_noised_classifier:
    input:
        manifest=exp_manifest,
    output:
        model=f"{RESULTS}/{{experiment}}/noised_classifier.pt",
    log:
        f"logs/train/{{experiment}}_noised_classifier.log",
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
        "jointdiff noised-classifier {params.flags} --run-dir {params.run_dir} "
        "--device {params.device} --out {output.model} > {log} 2>&1"
