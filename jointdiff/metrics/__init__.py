"""Evaluation metrics, one idea per module: accuracy of the joint head; FID / precision / recall / KID with
torch-fidelity and cached reference statistics; an independent classifier for conditional samples.
Nothing is imported here, so `import jointdiff.metrics.<module>` stays light."""
