# Joint training through torchrun: one process per GPU (NCCL), or config train.cpu_processes on CPU (gloo).
# Checkpoints live in results/<experiment>/checkpoints, which is not a declared output, so Snakemake never
# deletes them; rerunning the job resumes from the newest one (the log says "resumed from ... at step N").
rule train:
    input:
        manifest=exp_manifest,
    output:
        model=f"{RESULTS}/{{experiment}}/model.pt",
    log:
        f"logs/train/{{experiment}}.log",
    benchmark:
        f"benchmarks/train/{{experiment}}.tsv"
    params:
        flags=lambda wc: exp_cfg(wc).to_flags(),
        run_dir=run_dir,
        nproc=exp_processes,
        device=exp_device,
        stop_after=config["train"]["stop_after_steps"],
    threads: config["train"]["threads"]
    resources:
        gpu=exp_gpus,
        runtime=lambda wc, attempt: attempt * exp_runtime_minutes(wc),  # a retry after a time-out gets longer
        mem_mb=lambda wc: exp_resources(wc)["mem_mb"],
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "OMP_NUM_THREADS=$(( {threads} / {params.nproc} > 0 ? {threads} / {params.nproc} : 1 )) "
        "torchrun --standalone --nnodes=1 --nproc-per-node={params.nproc} -m jointdiff train {params.flags} "
        "--run-dir {params.run_dir} --out {output.model} --device {params.device} --expect-gpus {resources.gpu} "
        "--stop-after-steps {params.stop_after} > {log} 2>&1"
