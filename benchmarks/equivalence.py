"""How close a fast path's loss and gradients must be to the fp32 eager NCHW baseline's on the same batch.

Measured on the CPU here (tiny and paper models, weights perturbed): channels_last agrees to about 1e-6 in the loss
and 1 - 1e-6 in gradient cosine; bf16 autocast to about 4e-4 and 1 - 5e-5. bf16 keeps 8 mantissa bits (a relative
step of 2^-8 = 0.4%), hence its looser bounds.
"""

from __future__ import annotations

from typing import Any

import torch

TOLERANCES = {"fp32": {"loss_rel": 1e-4, "grad_cos": 0.9999, "grad_norm_rel": 1e-3},
              "bf16": {"loss_rel": 3e-2, "grad_cos": 0.99, "grad_norm_rel": 5e-2}}
LOSS_TERMS = ("loss", "diffusion", "classifier")


def compare(reference: tuple[dict, dict], other: tuple[dict, dict], dtype: str) -> dict[str, Any]:
    """Agreement of `other` with `reference`, both (loss terms, {name: gradient}) as VariantStep.loss_and_grads
    returns them: the largest relative error of a loss term, the cosine similarity of the whole gradient and the
    relative error of its norm, the tolerance for `dtype` ('fp32' or 'bf16') and whether all three are met."""
    (ref_terms, ref_grads), (terms, grads) = reference, other
    loss_rel = max(abs(float(terms[k]) - float(ref_terms[k])) / max(abs(float(ref_terms[k])), 1e-12)
                   for k in LOSS_TERMS)
    a = torch.cat([ref_grads[n].flatten() for n in ref_grads]).double()
    b = torch.cat([grads[n].flatten() for n in ref_grads]).double()
    grad_cos = float(torch.nn.functional.cosine_similarity(a, b, dim=0))
    grad_norm_rel = float((b.norm() - a.norm()).abs() / a.norm())
    tol = TOLERANCES[dtype]
    ok = loss_rel <= tol["loss_rel"] and grad_cos >= tol["grad_cos"] and grad_norm_rel <= tol["grad_norm_rel"]
    return {"loss_rel": loss_rel, "grad_cos": grad_cos, "grad_norm_rel": grad_norm_rel, "tolerance": tol, "ok": ok}
