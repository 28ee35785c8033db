"""Key names of every file passed between stages, declared once: the commands that write a file and the report
that reads it use these constants, so a rename is one edit here and a misspelt key is a NameError. Torch-free.
"""

REPORT_WEIGHTS = ("raw", "ema")    # the order the report lists the two weight sets in

# --- shared by accuracy.json, fid_*.json and guided_*.json -------------------------------------------------------
KEY_EXPERIMENT = "experiment"      # optional in fid files: then results/<experiment>/metrics/<file>
KEY_WEIGHTS = "weights"            # accuracy: {"raw": {...}, "ema": {...}}; fid, guided: "raw" | "ema"
KEY_DATASET = "dataset"
KEY_MODEL = "model"                # the model.pt a metric was measured on
KEY_STEP = "step"                  # the training step of that model
KEY_N = "n"                        # images counted (test images, or guided samples)
KEY_NUMERICS = "numerics"          # every metric file: {"device": "cuda" | "cpu", "tf32": bool}, what computed it

# --- accuracy.json (`jointdiff accuracy`) --------------------------------------------------------------------------
KEY_SPLIT = "split"
KEY_MULTI_LABEL = "multi_label"
KEY_ACCURACY = "accuracy"          # a fraction in [0, 1], under weights.<raw|ema>
KEY_TOP5 = "top5_accuracy"         # optional, beside accuracy
KEY_PER_CLASS = "per_class"        # single-label: accuracy per class
KEY_PER_ATTRIBUTE = "per_attribute"  # multi-label: accuracy per attribute
KEY_CONFUSION = "confusion"
KEY_NOISE_CURVE = "noise_curve"    # {"raw": [{"t", "t_fraction", "accuracy"}, ...], "ema": [...]}
KEY_HEAD_T = "head_t"              # the timestep feature the head read on noised images: "zero" or "t"
KEY_T = "t"
KEY_T_FRACTION = "t_fraction"
KEY_LABELLED_SHARE = "labelled_data_share"  # the run's seeded share of kept training labels
KEY_TRAIN_IMAGES = "train_images"           # images in the run's training split
KEY_TRAIN_LABELLED = "train_labelled"       # of them with a label (share and hidden domain-adaptation labels)
KEY_OBJECTIVE = "objective"                 # "joint" or "classifier only" (diffusion_loss_weight 0)

# --- probe_<weights>.json (`jointdiff probe`): linear probes per encoder block and timestep -------------------------
KEY_T_FRACTIONS = "t_fractions"    # the timesteps as fractions of T, one column each
KEY_TIMESTEPS = "timesteps"
KEY_BLOCKS = "blocks"              # one row each: {"name", "resolution", "channels"}
KEY_PROBE_ACCURACY = "probe_accuracy"  # [block][timestep] test accuracy of the linear probe
KEY_N_TRAIN = "n_train"
KEY_N_TEST = "n_test"
KEY_PROBE = "probe"                # what the probe is

# --- fid_<protocol>_<weights>.json (`jointdiff fid`) -----------------------------------------------------------------
KEY_FID = "fid"
KEY_PRECISION = "precision"        # optional
KEY_RECALL = "recall"              # optional
KEY_F_SCORE = "f_score"            # optional
KEY_KID_MEAN = "kid_mean"          # optional
KEY_KID_STD = "kid_std"
KEY_ISC_MEAN = "isc_mean"
KEY_ISC_STD = "isc_std"
KEY_PROTOCOL = "protocol"          # "standard" | "paper"
KEY_PROTOCOL_LABEL = "protocol_label"
KEY_SMOKE = "smoke"
KEY_FLOOR = "floor"                # true: real held-out images in place of samples, what real data scores
KEY_METRICS = "metrics"
KEY_N_SAMPLES = "n_samples"
KEY_N_REFERENCE = "n_reference"
KEY_MIN_SAMPLES = "min_samples"
KEY_SAMPLES = "samples"            # the samples file (path, sha256, shape, the sampler settings it holds)
KEY_REFERENCE = "reference"        # {"dataset": ..., "split": ..., ...}: the real images compared against
KEY_REFERENCE_DATASET = "dataset"
KEY_REFERENCE_SPLIT = "split"
KEY_FEATURE_EXTRACTOR = "feature_extractor"
KEY_SETTINGS = "settings"
KEY_STATISTICS_DTYPE = "statistics_dtype"
KEY_DEVICE = "device"
KEY_TORCH_FIDELITY = "torch_fidelity_version"

# --- guided_<weights>_alpha<alpha>.json (`jointdiff score`) --------------------------------------------------------
KEY_ALPHA = "alpha"                # also a scalar in guided .npz files
KEY_SAMPLER = "sampler"            # the sampling settings the samples were made with
KEY_GUIDANCE = "guidance"          # the guidance method (jointdiff.choices.GUIDANCE_METHODS)
KEY_OWN_JUDGE = "own_judge"        # what the "own" accuracy was judged by: the joint head or the noised classifier
KEY_OWN_TARGET_ACCURACY = "own_head_target_accuracy"  # by the own judge (for classic guidance: its classifier)
KEY_OWN_PER_CLASS = "own_head_per_class"
KEY_OWN_ATTRIBUTE_AGREEMENT = "own_head_attribute_agreement"
KEY_INDEPENDENT_CLASSIFIER = "independent_classifier"              # the judge's file and metadata
KEY_INDEPENDENT_TARGET_ACCURACY = "independent_target_accuracy"    # null without an independent classifier
KEY_INDEPENDENT_PER_CLASS = "independent_per_class"

# --- sample archives (.npz, `jointdiff sample`) --------------------------------------------------------------------
KEY_IMAGES = "images"              # uint8 N x H x W x C
KEY_LABELS = "labels"              # -1: unconditional; guided: the target class, or the target attribute vector
KEY_SEEDS = "seeds"
KEY_ATTRIBUTE = "attribute"        # attribute-guided samples only: the attribute switched off, then on
KEY_SAMPLE_SETTINGS = "settings"   # the sampling settings as a JSON string

# --- counterfactual archives (.npz, `jointdiff counterfactual`) ----------------------------------------------------
KEY_ORIGINALS = "originals"
KEY_COUNTERFACTUALS = "counterfactuals"
KEY_SOURCE_LABELS = "source_labels"
KEY_TARGET_LABELS = "target_labels"
KEY_PRED_ORIGINAL = "pred_original"
KEY_PRED_COUNTERFACTUAL = "pred_counterfactual"
KEY_TEST_INDICES = "test_indices"
KEY_T_STAR = "t_star"

# --- train_log.jsonl (`jointdiff train`): one record per logged step; validation accuracy only on some -------------
LOG_STEP = "step"
LOG_LOSS = "loss"
LOG_DIFFUSION_LOSS = "loss_diffusion"
LOG_CLASSIFIER_LOSS = "loss_classifier"
LOG_BATCH_ACCURACY = "train_batch_acc"
LOG_ACCURACY = {"raw": "acc_raw", "ema": "acc_ema"}
LOG_FINAL = "final"                # the last record: full validation, no losses

# --- config/paper_results.yaml ---------------------------------------------------------------------------------------
PAPER = "paper"                    # {experiment: {"accuracy": % | null, "fid": float | null, "source": str}}
PAPER_ACCURACY = "accuracy"
PAPER_FID = "fid"
PAPER_SOURCE = "source"
