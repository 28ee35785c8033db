"""Key names of the files the report reads, in one place, so that a rename by a producer is one edit here.

The FID names mirror the KEY_* constants of `jointdiff/metrics/fid.py` (a test checks that they agree); they
are repeated rather than imported because that module imports torch and torch-fidelity.
"""

WEIGHTS = ("raw", "ema")           # the two sets of weights every model file holds

# Shared by accuracy.json, fid_*.json and guided_*.json.
KEY_EXPERIMENT = "experiment"      # optional in fid files: then results/<experiment>/metrics/<file>
KEY_WEIGHTS = "weights"            # accuracy: {"raw": {...}, "ema": {...}}; fid, guided: "raw" | "ema"

# accuracy.json (`jointdiff accuracy`).
KEY_DATASET = "dataset"
KEY_MULTI_LABEL = "multi_label"
KEY_STEP = "step"
KEY_ACCURACY = "accuracy"          # a fraction in [0, 1], under weights.<raw|ema>
KEY_TOP5 = "top5_accuracy"         # optional, beside accuracy
KEY_N = "n"                        # test images counted (also the guided files' sample count)
KEY_NOISE_CURVE = "noise_curve"    # {"raw": [{"t", "t_fraction", "accuracy"}, ...], "ema": [...]}
KEY_HEAD_T = "head_t"              # the timestep feature the head read on noised images: "zero" or "t"
KEY_T_FRACTION = "t_fraction"

# fid_<protocol>_<weights>.json (`jointdiff fid`).
KEY_FID = "fid"
KEY_PRECISION = "precision"        # optional
KEY_RECALL = "recall"              # optional
KEY_KID_MEAN = "kid_mean"          # optional
KEY_PROTOCOL = "protocol"          # "standard" | "paper"
KEY_SMOKE = "smoke"
KEY_N_SAMPLES = "n_samples"
KEY_REFERENCE = "reference"        # {"dataset": ..., "split": ..., ...}
KEY_REFERENCE_DATASET = "dataset"
KEY_REFERENCE_SPLIT = "split"

# guided_<weights>_alpha<alpha>.json (`jointdiff sample`, guided).
KEY_ALPHA = "alpha"                # also an optional scalar in guided .npz files
KEY_OWN_TARGET_ACCURACY = "own_head_target_accuracy"
KEY_REFERENCE_TARGET_ACCURACY = "reference_target_accuracy"   # null without a reference classifier

# Sample archives (.npz): uint8 NHWC images and their labels (-1: unconditional; guided: the target class).
KEY_IMAGES = "images"
KEY_LABELS = "labels"

# Counterfactual archives (.npz, `jointdiff counterfactual`).
KEY_ORIGINALS = "originals"
KEY_COUNTERFACTUALS = "counterfactuals"
KEY_SOURCE_LABELS = "source_labels"
KEY_TARGET_LABELS = "target_labels"
KEY_PRED_ORIGINAL = "pred_original"
KEY_PRED_COUNTERFACTUAL = "pred_counterfactual"
KEY_T_STAR = "t_star"

# train_log.jsonl (`jointdiff train`): one record per logged step; validation accuracy only on some.
LOG_STEP = "step"
LOG_DIFFUSION_LOSS = "loss_diffusion"
LOG_CLASSIFIER_LOSS = "loss_classifier"
LOG_ACCURACY = {"raw": "acc_raw", "ema": "acc_ema"}
LOG_FINAL = "final"                # the last record: full validation, no losses

# config/paper_results.yaml.
PAPER = "paper"                    # {experiment: {"accuracy": % | null, "fid": float | null, "source": str}}
PAPER_ACCURACY = "accuracy"
PAPER_FID = "fid"
PAPER_SOURCE = "source"
