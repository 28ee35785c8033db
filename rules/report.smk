# Tables (CSV, Markdown, LaTeX) and figures (PNG, PDF) from the metric and sample files, each cell and figure
# traceable to the file it came from. Figures and tables are also items of `snakemake --report report.html`.



localrules:
    table,
    figure_samples,
    figure_guided,
    figure_alpha_sweep,
    figure_counterfactual,
    figure_training_curves,
    figure_accuracy_vs_noise,
    figure_probe,


# One rule for every kind of table. Snakemake reads a caption file by a name without wildcards, so report/table.rst
# shows the kind's own, report/table_<kind>.rst, which it gets through params.
rule table:
    input:
        unpack(table_input),
    output:
        csv=report(f"{RESULTS}/tables/{{kind}}.csv", caption="../report/table.rst", category="Tables"),
        md=f"{RESULTS}/tables/{{kind}}.md",
        tex=f"{RESULTS}/tables/{{kind}}.tex",
    log:
        f"{LOGS}/report/table_{{kind}}.log",
    wildcard_constraints:
        kind="|".join(TABLES),
    params:
        flags=table_flags,
        caption=lambda wildcards: (Path(workflow.basedir) / "report" / f"table_{wildcards.kind}.rst").read_text(),
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report table --kind {wildcards.kind} --inputs {input.metrics:q}{params.flags} --out "
        "{output.csv:q} > {log:q} 2>&1"


rule figure_samples:
    input:
        samples=f"{RESULTS}/{{experiment}}/samples/uncond_ema_n{N_UNCOND}.npz",
        real=lambda wc: f"{RESULTS}/floors/{exp_cfg(wc).dataset}/real_standard.npz",
    output:
        png=report(f"{RESULTS}/figures/samples_{{experiment}}.png", caption="../report/figure_samples.rst", category="Samples"),
        pdf=f"{RESULTS}/figures/samples_{{experiment}}.pdf",
    log:
        f"{LOGS}/report/figure_samples_{{experiment}}.log",
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report figure --kind samples --inputs {input.samples:q} {input.real:q} "
        "--title {wildcards.experiment} --out {output.png:q} > {log:q} 2>&1"


rule figure_guided:
    input:
        samples=expand(f"{RESULTS}/{{{{experiment}}}}/samples/guided_ema_alpha{{alpha}}.npz", alpha=ALPHAS),
    output:
        png=report(f"{RESULTS}/figures/guided_{{experiment}}.png", caption="../report/figure_guided.rst", category="Conditional samples"),
        pdf=f"{RESULTS}/figures/guided_{{experiment}}.pdf",
    log:
        f"{LOGS}/report/figure_guided_{{experiment}}.log",
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report figure --kind guided --inputs {input.samples:q} --title {wildcards.experiment} "
        "--out {output.png:q} > {log:q} 2>&1"


rule figure_alpha_sweep:
    input:
        metrics=guided_metric_files(),
    output:
        png=report(f"{RESULTS}/figures/alpha_sweep.png", caption="../report/figure_alpha_sweep.rst", category="Conditional samples"),
        pdf=f"{RESULTS}/figures/alpha_sweep.pdf",
    log:
        f"{LOGS}/report/figure_alpha_sweep.log",
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report figure --kind alpha_sweep --inputs {input.metrics:q} --out {output.png:q} > "
        "{log:q} 2>&1"


rule figure_counterfactual:
    input:
        result=f"{RESULTS}/{{experiment}}/samples/counterfactual_ema.npz",
    output:
        png=report(f"{RESULTS}/figures/counterfactual_{{experiment}}.png", caption="../report/figure_counterfactual.rst", category="Counterfactuals"),
        pdf=f"{RESULTS}/figures/counterfactual_{{experiment}}.pdf",
    log:
        f"{LOGS}/report/figure_counterfactual_{{experiment}}.log",
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report figure --kind counterfactual --inputs {input.result:q} --title "
        "{wildcards.experiment} "
        "--out {output.png:q} > {log:q} 2>&1"


rule figure_training_curves:
    input:
        models=metric_files("{results}/{experiment}/model.pt", EXPERIMENTS),
    output:
        png=report(f"{RESULTS}/figures/training_curves.png", caption="../report/figure_training_curves.rst", category="Training"),
        pdf=f"{RESULTS}/figures/training_curves.pdf",
    log:
        f"{LOGS}/report/figure_training_curves.log",
    params:
        logs=metric_files("{results}/{experiment}/train_log.jsonl", EXPERIMENTS),
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report figure --kind training_curves --inputs {params.logs:q} --out {output.png:q} > "
        "{log:q} 2>&1"


rule figure_accuracy_vs_noise:
    input:
        metrics=metric_files("{results}/{experiment}/metrics/accuracy.json", CLASSIFIER_EXPERIMENTS),
    output:
        png=report(f"{RESULTS}/figures/accuracy_vs_noise.png", caption="../report/figure_accuracy_vs_noise.rst", category="Training"),
        pdf=f"{RESULTS}/figures/accuracy_vs_noise.pdf",
    log:
        f"{LOGS}/report/figure_accuracy_vs_noise.log",
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report figure --kind accuracy_vs_noise --inputs {input.metrics:q} --out {output.png:q} "
        "> {log:q} 2>&1"



# ---- the paper's later experiments -------------------------------------------------------------------------------
rule figure_probe:
    input:
        metrics=table_metric_files("probe"),
    output:
        png=report(f"{RESULTS}/figures/probe.png", caption="../report/figure_probe.rst", category="Training"),
        pdf=f"{RESULTS}/figures/probe.pdf",
    log:
        f"{LOGS}/report/figure_probe.log",
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report figure --kind probe --inputs {input.metrics:q} --out {output.png:q} > {log:q} 2>&1"


# ---- every table and figure again from existing results: `jointdiff rebuild` --------------------------------------
# Run with only this file's rules allowed, report_only asks for each table and figure of `all` whose inputs exist
# (existing_reports in common.smk).
localrules:
    report_only,


rule report_only:
    input:
        existing_reports,
