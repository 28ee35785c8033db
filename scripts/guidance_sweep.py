"""Measure how guidance through the joint representation steers, over alpha and the options the method leaves
open (the guidance method, the timestep fed to the head, normalised gradients, guiding only the later steps).

    python scripts/guidance_sweep.py --model results/digits_demo/model.pt \
        --independent-classifier results/independent_classifiers/digits.pt --out results/guidance_sweep.jsonl

For every setting it generates `--per-class` samples per class with the same seeds and records the target
accuracy under the model's own head and under the independent classifier (one JSON line each).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import torch

from jointdiff.choices import CLASSIC_GUIDANCE, GUIDANCE_METHODS, SAMPLERS, VARIANCES
from jointdiff.images import to_uint8
from jointdiff.metrics.independent_classifier import classify_images, load_independent_classifier
from jointdiff.model import head_predict, load_trained
from jointdiff.sample.generate import sample_batch
from jointdiff.sample.settings import SamplingSettings


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--independent-classifier", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--alphas", default="0,1,10,100,1000,10000")
    p.add_argument("--guidance", default=",".join(m for m in GUIDANCE_METHODS if m != CLASSIC_GUIDANCE),
                   help="the joint head's guidance methods (classic guidance needs its own classifier)")
    p.add_argument("--head-t", default="zero,t")
    p.add_argument("--normalize", default="false,true")
    p.add_argument("--guide-until", default="1.0")
    p.add_argument("--per-class", type=int, default=10)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--sampler", default="ancestral", choices=SAMPLERS)
    p.add_argument("--variance", default="fixedlarge", choices=VARIANCES)
    p.add_argument("--clip-x0", action="store_true")
    args = p.parse_args()

    trained = load_trained(args.model, "ema", "cpu")
    judge, _ = load_independent_classifier(args.independent_classifier)
    classes = trained.cfg.resolved_num_classes()
    labels = torch.arange(classes).repeat_interleave(args.per_class)
    seeds = list(range(len(labels)))
    grid = itertools.product([float(a) for a in args.alphas.split(",")], args.guidance.split(","),
                             args.head_t.split(","),
                             [v == "true" for v in args.normalize.split(",")],
                             [float(g) for g in args.guide_until.split(",")])
    with open(args.out, "a") as out:
        for alpha, guidance, head_t, normalize, guide_until in grid:
            if alpha == 0 and (guidance != "representation" or head_t != "zero" or normalize or guide_until != 1.0):
                continue  # unguided: the options change nothing
            if guidance == "x0" and head_t != "zero":
                continue  # the x0 variant always reads its clean estimate at t = 0
            settings = SamplingSettings(alpha=alpha, guidance=guidance, head_t=head_t, normalize_grad=normalize,
                                        guide_until=guide_until, sampler=args.sampler, steps=args.steps,
                                        variance=args.variance, clip_x0=args.clip_x0)
            start = time.perf_counter()
            x = sample_batch(trained, seeds, labels, settings, torch.device("cpu"))
            own = (head_predict(trained.model, x, False) == labels).float().mean().item()
            judged = classify_images(judge, to_uint8(x).permute(0, 3, 1, 2).contiguous()) == labels
            record = {**settings.to_dict(), "n": len(labels), "own_head_target_accuracy": own,
                      "independent_target_accuracy": judged.float().mean().item(),
                      "seconds": round(time.perf_counter() - start, 1), "model": args.model}
            out.write(json.dumps(record) + "\n")
            out.flush()
            print(json.dumps(record))


if __name__ == "__main__":
    main()
