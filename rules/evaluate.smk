# Metrics, one JSON per metric, each saying how it was measured (weights, protocol, sample count, reference).


rule accuracy:
    input:
        model=rules.train.output.model,
        manifest=exp_manifest,
    output:
        metrics=f"{RESULTS}/{{experiment}}/metrics/accuracy.json",
    log:
        f"{LOGS}/evaluate/{{experiment}}/accuracy.log",
    params:
        launch=launcher(),
        dataroot=DATAROOT,
        noise_levels=",".join(str(x) for x in config["evaluation"]["accuracy_noise_levels"]),
        head_t=config["evaluation"]["accuracy_head_t"],
        device=exp_device,
    threads: THREADS
    resources:
        gpu=one_gpu,
        runtime=eval_runtime,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "{params.launch} --gpus {resources.gpu} --threads {threads} -- accuracy "
        "--model {input.model:q} --dataroot {params.dataroot:q} "
        "--noise-fractions {params.noise_levels} --head-t {params.head_t} --device {params.device} "
        "--out {output.metrics:q} > {log:q} 2>&1"


rule fid_standard:
    input:
        samples=f"{RESULTS}/{{experiment}}/samples/uncond_{{weights}}_n{N_UNCOND}.npz",
        manifest=exp_manifest,
    output:
        metrics=f"{RESULTS}/{{experiment}}/metrics/fid_standard_{{weights}}.json",
    log:
        f"{LOGS}/evaluate/{{experiment}}/fid_standard_{{weights}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{experiment}}/fid_standard_{{weights}}.tsv"
    params:
        launch=launcher(),
        dataset=exp_dataset,
        dataroot=DATAROOT,
        split=config["evaluation"]["fid_split"],
        min_samples=config["evaluation"]["fid_min_samples"],
        smoke=fid_smoke_flags(),
        metrics=",".join(config["evaluation"]["fid_metrics"]),
        device=exp_device,
    threads: THREADS
    resources:
        gpu=one_gpu,
        runtime=eval_runtime,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "{params.launch} --gpus {resources.gpu} --threads {threads} -- fid "
        "--samples {input.samples:q} --dataset {params.dataset} --dataroot {params.dataroot:q} "
        "--split {params.split} --protocol standard --metrics {params.metrics} --min-samples {params.min_samples} "
        "{params.smoke} --device {params.device} --out {output.metrics:q} > {log:q} 2>&1"


rule fid_paper_protocol:
    input:
        samples=f"{RESULTS}/{{experiment}}/samples/uncond_raw_n{config['evaluation']['paper_fid_samples']}.npz",
        manifest=exp_manifest,
    output:
        metrics=f"{RESULTS}/{{experiment}}/metrics/fid_paper_raw.json",
    log:
        f"{LOGS}/evaluate/{{experiment}}/fid_paper_raw.log",
    params:
        launch=launcher(),
        dataset=exp_dataset,
        dataroot=DATAROOT,
        smoke=fid_smoke_flags(),
        device=exp_device,
    threads: THREADS
    resources:
        gpu=one_gpu,
        runtime=eval_runtime,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "{params.launch} --gpus {resources.gpu} --threads {threads} -- fid "
        "--samples {input.samples:q} --dataset {params.dataset} --dataroot {params.dataroot:q} "
        "--protocol paper {params.smoke} --device {params.device} --out {output.metrics:q} > {log:q} 2>&1"


# What real data scores: held-out real images in place of samples, same protocol, count and reference.
rule fid_floor:
    input:
        manifest=manifest_path("{dataset}"),
    output:
        metrics=f"{RESULTS}/floors/{{dataset}}/fid_{{protocol}}.json",
        images=f"{RESULTS}/floors/{{dataset}}/real_{{protocol}}.npz",
    log:
        f"{LOGS}/evaluate/floor_{{dataset}}_{{protocol}}.log",
    params:
        launch=launcher(dataset_gpu),
        device=dataset_device,
        dataroot=lambda wc, input: dataroot_of(input.manifest),
        split=lambda wc: FLOOR_SPLIT[wc.protocol],
        real_count=floor_count,
        smoke=fid_smoke_flags(),
        metrics=",".join(config["evaluation"]["fid_metrics"]),
    threads: THREADS
    resources:
        gpu=dataset_gpu,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "{params.launch} --gpus {resources.gpu} --threads {threads} -- fid "
        "--real-split {params.split} --real-count {params.real_count} "
        "--save-real {output.images:q} --dataset {wildcards.dataset} --dataroot {params.dataroot:q} "
        "--protocol {wildcards.protocol} --metrics {params.metrics} --min-samples {params.real_count} {params.smoke} "
        "--device {params.device} --out {output.metrics:q} > {log:q} 2>&1"


rule independent_classifier:
    input:
        manifest=manifest_path("{dataset}"),
    output:
        model=f"{RESULTS}/independent_classifiers/{{dataset}}.pt",
    log:
        f"{LOGS}/evaluate/independent_classifier_{{dataset}}.log",
    params:
        launch=launcher(dataset_gpu),
        device=dataset_device,
        dataroot=lambda wc, input: dataroot_of(input.manifest),
    threads: THREADS
    resources:
        gpu=dataset_gpu,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "{params.launch} --gpus {resources.gpu} --threads {threads} -- independent-classifier "
        "--dataset {wildcards.dataset} --dataroot {params.dataroot:q} "
        "--device {params.device} --out {output.model:q} > {log:q} 2>&1"


rule guided_score:
    input:
        samples=rules.sample_guided.output.samples,
        model=rules.train.output.model,
        judge=independent_classifier_input,
    output:
        metrics=f"{RESULTS}/{{experiment}}/metrics/guided_{{weights}}_alpha{{alpha}}.json",
    log:
        f"{LOGS}/evaluate/{{experiment}}/guided_{{weights}}_alpha{{alpha}}.log",
    params:
        launch=launcher(),
        judge=lambda wc, input: f"--independent-classifier {shlex.quote(input.judge)}",
        device=exp_device,
    resources:
        gpu=one_gpu,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "{params.launch} --gpus {resources.gpu} --threads {threads} -- score "
        "--samples {input.samples:q} --model {input.model:q} {params.judge} "
        "--device {params.device} --out {output.metrics:q} > {log:q} 2>&1"



rule classic_score:
    input:
        samples=rules.sample_classic.output.samples,
        model=rules.train.output.model,
        classifier=rules.noised_classifier.output.model,
        judge=independent_classifier_input,
    output:
        metrics=f"{RESULTS}/{{experiment}}/metrics/classic_{{weights}}_alpha{{alpha}}.json",
    log:
        f"{LOGS}/evaluate/{{experiment}}/classic_{{weights}}_alpha{{alpha}}.log",
    params:
        launch=launcher(),
        device=exp_device,
    resources:
        gpu=one_gpu,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "{params.launch} --gpus {resources.gpu} --threads {threads} -- score "
        "--samples {input.samples:q} --model {input.model:q} --noised-classifier {input.classifier:q} "
        "--independent-classifier {input.judge:q} --device {params.device} --out {output.metrics:q} > {log:q} 2>&1"


# FID, precision and recall of one guided set (the joint model's or classic guidance's), for the conditional-
# generation table: all its samples against the train split, so n is classes x guided_samples_per_class.
rule fid_guided:
    input:
        samples=f"{RESULTS}/{{experiment}}/samples/{{kind}}_{{weights}}_alpha{{alpha}}.npz",
        manifest=exp_manifest,
    output:
        metrics=f"{RESULTS}/{{experiment}}/metrics/fid_{{kind}}_{{weights}}_alpha{{alpha}}.json",
    log:
        f"{LOGS}/evaluate/{{experiment}}/fid_{{kind}}_{{weights}}_alpha{{alpha}}.log",
    params:
        launch=launcher(),
        dataset=exp_dataset,
        dataroot=DATAROOT,
        split=config["evaluation"]["fid_split"],
        min_samples=guided_sample_count,
        smoke=fid_smoke_flags(),
        metrics=",".join(m for m in config["evaluation"]["fid_metrics"] if m != "kid"),
        device=exp_device,
    threads: THREADS
    resources:
        gpu=one_gpu,
        runtime=eval_runtime,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "{params.launch} --gpus {resources.gpu} --threads {threads} -- fid "
        "--samples {input.samples:q} --dataset {params.dataset} --dataroot {params.dataroot:q} "
        "--split {params.split} --protocol standard --metrics {params.metrics} --min-samples {params.min_samples} "
        "{params.smoke} --device {params.device} --out {output.metrics:q} > {log:q} 2>&1"


# Linear probes of the frozen encoder (ours): per encoder block and timestep.
rule probe:
    input:
        model=rules.train.output.model,
        manifest=exp_manifest,
    output:
        metrics=f"{RESULTS}/{{experiment}}/metrics/probe_{{weights}}.json",
    log:
        f"{LOGS}/evaluate/{{experiment}}/probe_{{weights}}.log",
    params:
        launch=launcher(),
        dataroot=DATAROOT,
        t_fractions=",".join(str(f) for f in config["probe"]["t_fractions"]),
        train_images=config["probe"]["train_images"],
        device=exp_device,
    threads: THREADS
    resources:
        gpu=one_gpu,
        runtime=eval_runtime,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "{params.launch} --gpus {resources.gpu} --threads {threads} -- probe "
        "--model {input.model:q} --dataroot {params.dataroot:q} --weights {wildcards.weights} "
        "--t-fractions {params.t_fractions} --train-images {params.train_images} --device {params.device} "
        "--out {output.metrics:q} > {log:q} 2>&1"


# An experiment's final metrics on its training's tracker run (config train.trackers): the summary of the same W&B
# run, TensorBoard scalars at the last step in the same log directory. tracked.json lists what was sent, so they are
# sent once. A local rule: on a cluster the submitting host is the one likely to reach W&B's server.
localrules:
    track_metrics,


rule track_metrics:
    input:
        model=rules.train.output.model,
        metrics=tracked_metric_files,
    output:
        sent=f"{RESULTS}/{{experiment}}/metrics/tracked.json",
    log:
        f"{LOGS}/evaluate/{{experiment}}/track_metrics.log",
    params:
        run_dir=run_dir,
        trackers=tracker_flags(),
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff track-metrics --run-dir {params.run_dir:q} --metrics {input.metrics:q} "
        "{params.trackers} --out {output.sent:q} > {log:q} 2>&1"
