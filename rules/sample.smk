# Samples from trained models: unconditional (for FID), guided by the joint model's own classifier
# (one file per alpha of the sweep), and counterfactual explanations of real test images. Seeds are explicit,
# so any file can be regenerated bit for bit and sharded over torchrun processes.


rule sample_unconditional:
    input:
        model=rules.train.output.model,
    output:
        samples=f"{RESULTS}/{{experiment}}/samples/uncond_{{weights}}_n{{n}}.npz",
        grid=f"{RESULTS}/{{experiment}}/samples/uncond_{{weights}}_n{{n}}.png",
    log:
        f"{LOGS}/sample/{{experiment}}/uncond_{{weights}}_n{{n}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/sample/{{experiment}}/uncond_{{weights}}_n{{n}}.tsv"
    params:
        launch=launcher(exp_gpus, torchrun=True),
        sampler=sampler_flags(),
        last_seed=lambda wc: int(wc.n) - 1,
        device=exp_device,
    threads: SAMPLING_THREADS
    resources:
        gpu=exp_gpus,
        runtime=eval_runtime,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "{params.launch} --gpus {resources.gpu} --threads {threads} -- sample "
        "--model {input.model:q} --weights {wildcards.weights} --seeds 0-{params.last_seed} "
        "{params.sampler} --device {params.device} --out {output.samples:q} > {log:q} 2>&1"


rule sample_guided:
    input:
        model=rules.train.output.model,
    output:
        samples=f"{RESULTS}/{{experiment}}/samples/guided_{{weights}}_alpha{{alpha}}.npz",
        grid=f"{RESULTS}/{{experiment}}/samples/guided_{{weights}}_alpha{{alpha}}.png",
    log:
        f"{LOGS}/sample/{{experiment}}/guided_{{weights}}_alpha{{alpha}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/sample/{{experiment}}/guided_{{weights}}_alpha{{alpha}}.tsv"
    params:
        launch=launcher(exp_gpus, torchrun=True),
        sampler=sampler_flags(),
        per_class=config["sampling"]["guided_samples_per_class"],
        device=exp_device,
    threads: SAMPLING_THREADS
    resources:
        gpu=exp_gpus,
        runtime=eval_runtime,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "{params.launch} --gpus {resources.gpu} --threads {threads} -- sample "
        "--model {input.model:q} --weights {wildcards.weights} --alpha {wildcards.alpha} "
        "--classes all --per-class {params.per_class} {params.sampler} --device {params.device} "
        "--out {output.samples:q} > {log:q} 2>&1"


# Classic guidance (the paper's baseline): the model steered by its separately trained noised classifier, one file
# per classifier scale of classic_guidance.scales.
rule sample_classic:
    input:
        model=rules.train.output.model,
        classifier=rules.noised_classifier.output.model,
    output:
        samples=f"{RESULTS}/{{experiment}}/samples/classic_{{weights}}_alpha{{alpha}}.npz",
        grid=f"{RESULTS}/{{experiment}}/samples/classic_{{weights}}_alpha{{alpha}}.png",
    log:
        f"{LOGS}/sample/{{experiment}}/classic_{{weights}}_alpha{{alpha}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/sample/{{experiment}}/classic_{{weights}}_alpha{{alpha}}.tsv"
    params:
        launch=launcher(exp_gpus, torchrun=True),
        sampler=sampler_flags(classic=True),
        per_class=config["sampling"]["guided_samples_per_class"],
        device=exp_device,
    threads: SAMPLING_THREADS
    resources:
        gpu=exp_gpus,
        runtime=eval_runtime,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "{params.launch} --gpus {resources.gpu} --threads {threads} -- sample "
        "--model {input.model:q} --weights {wildcards.weights} --alpha {wildcards.alpha} "
        "--classes all --per-class {params.per_class} {params.sampler} --noised-classifier {input.classifier:q} "
        "--device {params.device} --out {output.samples:q} > {log:q} 2>&1"


rule counterfactual:
    input:
        model=rules.train.output.model,
        manifest=exp_manifest,
    output:
        result=f"{RESULTS}/{{experiment}}/samples/counterfactual_{{weights}}.npz",
        figure=f"{RESULTS}/{{experiment}}/samples/counterfactual_{{weights}}.png",
    log:
        f"{LOGS}/sample/{{experiment}}/counterfactual_{{weights}}.log",
    params:
        launch=launcher(),
        sampler=sampler_flags(),
        num=config["sampling"]["counterfactual_images"],
        t_fraction=config["sampling"]["counterfactual_t_fraction"],
        alpha=config["sampling"]["counterfactual_alpha"],
        dataroot=DATAROOT,
        device=exp_device,
    threads: SAMPLING_THREADS
    resources:
        gpu=one_gpu,
        runtime=eval_runtime,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "{params.launch} --gpus {resources.gpu} --threads {threads} -- counterfactual "
        "--model {input.model:q} --weights {wildcards.weights} --dataroot {params.dataroot:q} "
        "--num-images {params.num} --t-fraction {params.t_fraction} --alpha {params.alpha} {params.sampler} "
        "--device {params.device} --out {output.result:q} > {log:q} 2>&1"
