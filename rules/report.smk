# Tables (CSV, Markdown, LaTeX) and figures (PNG, PDF) from the metric and sample files, each cell and figure
# traceable to the file it came from. Figures and tables are also items of `snakemake --report report.html`.



localrules:
    table_accuracy,
    table_fid,
    table_guidance,
    figure_samples,
    figure_guided,
    figure_alpha_sweep,
    figure_counterfactual,
    figure_training_curves,
    figure_accuracy_vs_noise,
    table_semi_supervised,
    table_domain_adaptation,
    table_conditional_generation,
    table_probe,
    figure_probe,


rule table_accuracy:
    input:
        metrics=metric_files("{results}/{experiment}/metrics/accuracy.json", CLASSIFIER_EXPERIMENTS),
        paper=PAPER_RESULTS,
    output:
        csv=report(f"{RESULTS}/tables/accuracy.csv", caption="../report/table_accuracy.rst", category="Tables"),
        md=f"{RESULTS}/tables/accuracy.md",
        tex=f"{RESULTS}/tables/accuracy.tex",
    log:
        f"{LOGS}/report/table_accuracy.log",
    params:
        experiments=CLASSIFIER_EXPERIMENTS,
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report table --kind accuracy --inputs {input.metrics:q} --experiments "
        "{params.experiments} "
        "--paper {input.paper:q} --out {output.csv:q} > {log:q} 2>&1"


rule table_fid:
    input:
        metrics=fid_inputs(),
        paper=PAPER_RESULTS,
    output:
        csv=report(f"{RESULTS}/tables/fid.csv", caption="../report/table_fid.rst", category="Tables"),
        md=f"{RESULTS}/tables/fid.md",
        tex=f"{RESULTS}/tables/fid.tex",
    log:
        f"{LOGS}/report/table_fid.log",
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report table --kind fid --inputs {input.metrics:q} --paper {input.paper:q} --out "
        "{output.csv:q} "
        "> {log:q} 2>&1"


rule table_guidance:
    input:
        metrics=guided_metric_files(),
    output:
        csv=report(f"{RESULTS}/tables/guidance.csv", caption="../report/table_guidance.rst", category="Tables"),
        md=f"{RESULTS}/tables/guidance.md",
        tex=f"{RESULTS}/tables/guidance.tex",
    log:
        f"{LOGS}/report/table_guidance.log",
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report table --kind guidance --inputs {input.metrics:q} --out {output.csv:q} > {log:q} "
        "2>&1"


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
rule table_semi_supervised:
    input:
        metrics=metric_files("{results}/{experiment}/metrics/accuracy.json", SEMI_SUPERVISED_EXPERIMENTS),
    output:
        csv=report(f"{RESULTS}/tables/semi_supervised.csv", caption="../report/table_semi_supervised.rst",
                   category="Tables"),
        md=f"{RESULTS}/tables/semi_supervised.md",
        tex=f"{RESULTS}/tables/semi_supervised.tex",
    log:
        f"{LOGS}/report/table_semi_supervised.log",
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report table --kind semi_supervised --inputs {input.metrics:q} --out {output.csv:q} > {log:q} 2>&1"


rule table_domain_adaptation:
    input:
        metrics=metric_files("{results}/{experiment}/metrics/accuracy.json", DA_EXPERIMENTS),
    output:
        csv=report(f"{RESULTS}/tables/domain_adaptation.csv", caption="../report/table_domain_adaptation.rst",
                   category="Tables"),
        md=f"{RESULTS}/tables/domain_adaptation.md",
        tex=f"{RESULTS}/tables/domain_adaptation.tex",
    log:
        f"{LOGS}/report/table_domain_adaptation.log",
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report table --kind domain_adaptation --inputs {input.metrics:q} --out {output.csv:q} > {log:q} 2>&1"


rule table_conditional_generation:
    input:
        metrics=conditional_generation_files(),
    output:
        csv=report(f"{RESULTS}/tables/conditional_generation.csv",
                   caption="../report/table_conditional_generation.rst", category="Tables"),
        md=f"{RESULTS}/tables/conditional_generation.md",
        tex=f"{RESULTS}/tables/conditional_generation.tex",
    log:
        f"{LOGS}/report/table_conditional_generation.log",
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report table --kind conditional_generation --inputs {input.metrics:q} --out {output.csv:q} "
        "> {log:q} 2>&1"


rule table_probe:
    input:
        metrics=metric_files(f"{{results}}/{{experiment}}/metrics/probe_{config['probe']['weights']}.json",
                             PROBE_EXPERIMENTS),
    output:
        csv=report(f"{RESULTS}/tables/probe.csv", caption="../report/table_probe.rst", category="Tables"),
        md=f"{RESULTS}/tables/probe.md",
        tex=f"{RESULTS}/tables/probe.tex",
    log:
        f"{LOGS}/report/table_probe.log",
    conda:
        "../envs/jointdiff.yaml"
    shell:
        "python -m jointdiff report table --kind probe --inputs {input.metrics:q} --out {output.csv:q} > {log:q} 2>&1"


rule figure_probe:
    input:
        metrics=rules.table_probe.input.metrics,
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
