# Download (or verify an offline copy of) a dataset; the manifest is written last, so it marks a finished one.
# A domain-adaptation set (DA_SVHN_MNIST, ...) waits for the datasets it is made of.
rule prepare_data:
    input:
        components=component_manifests,
    output:
        manifest=f"{DATAROOT}/{{dataset}}/manifest.json",
    log:
        f"{LOGS}/prepare_data/{{dataset}}.log",
    params:
        root=lambda wc, output: dataroot_of(output.manifest),
    retries: 2
    resources:
        runtime=120,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff prepare --dataset {wildcards.dataset} --root {params.root:q} > {log:q} 2>&1"
