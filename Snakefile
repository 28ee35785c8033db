# jointdiff: the Joint Diffusion paper (Deja, Trzcinski, Tomczak, ECML PKDD 2023), end to end.
#   snakemake --workflow-profile profiles/local            the paper's runs (config/config.yaml), on this
#                                                          machine's cores and GPUs
#   snakemake --cores all --configfile config/demo.yaml    the built-in digits demo, minutes on a CPU
#   snakemake --cores 1 report_only --allowed-rules ...    tables and figures from existing results (README)
# Data flows one way: data -> train -> sample -> evaluate -> report.

from snakemake.utils import min_version

min_version("9.20")


# ---- configuration: defaults and documentation in config/schema.yaml ----------------------------------------
configfile: "config/config.yaml"


# ---- rules, in data-flow order ----------------------------------------------------------------------------------
include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/train.smk"
include: "rules/sample.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


# ---- targets ------------------------------------------------------------------------------------------------------
rule all:
    default_target: True
    input:
        all_tables(),
        all_figures(),
