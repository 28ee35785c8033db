"""The choice lists of every option that takes one of a few names, in one torch-free place.

argparse (`choices=`), the workflow schema (`enum:`, checked against these by a test) and the library read them
here, so a new sampler or guidance method is added once.
"""

DEVICES = ("auto", "cpu", "cuda")              # auto: CUDA when torch sees a GPU, else the CPU
WEIGHTS = ("ema", "raw")                       # the two weight sets every model file holds
SAMPLERS = ("ancestral", "ddim")               # ancestral: the paper's; ddim: Song et al. 2021
VARIANCES = ("fixedlarge", "fixedsmall")       # reverse-process variance of the ancestral sampler
# beta schedules (diffusion.make_beta_schedule): linear is the authors' fork's (first beta 1e-3 at T = 1000),
# linear_upstream guided-diffusion's (1e-4)
NOISE_SCHEDULES = ("linear", "linear_upstream", "cosine")
# How sampling is steered (jointdiff/sample/guidance.py): by the joint classifier - the paper's shift of the encoder's
# activations, or our two x-space variants - or by a separately trained noised classifier (classic guidance,
# the paper's baseline).
CLASSIC_GUIDANCE = "classifier"
GUIDANCE_METHODS = ("representation", "x0", "input", CLASSIC_GUIDANCE)
# The timestep feature the joint head reads on noised inputs: 0 (the only value a head trained on clean images
# saw) or the true t.
HEAD_T = ("zero", "t")
# Experiment trackers of a training run (jointdiff/train/trackers.py), and how W&B reaches its server: online, or
# offline (files in the run directory, uploaded later by `wandb sync`).
TRACKERS = ("tensorboard", "wandb")
WANDB_MODES = ("online", "offline")
