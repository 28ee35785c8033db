"""What the Snakemake workflow (rules/common.smk) reads and checks when it starts, before any job: each experiment
file (`experiment_file.py`, with its `resources:` block in `resources.py`) and the workflow config against the
experiments (`checks.py`). Torch-free: the workflow imports it whenever it parses the Snakefile."""
