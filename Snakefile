# jointdiff: the Joint Diffusion paper (Deja, Trzcinski, Tomczak, ECML PKDD 2023), end to end.
#   snakemake --workflow-profile profiles/local            the paper's runs (config/config.yaml), on this
#                                                          machine's cores and GPUs
#   snakemake --cores all --configfile config/demo.yaml    the built-in digits demo, minutes on a CPU
#   jointdiff rebuild --configfile config/demo.yaml        every table and figure again from existing
#                                                          results, no other job (rules/report.smk)
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
        all_tracked_metrics(),
