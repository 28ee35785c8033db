"""Sampling: seeded, sharded generation (`generate.py`) from the settings of `settings.py`, guided by the joint
classifier (`guidance.py`) toward the targets of `targets.py`, and counterfactual explanations
(`counterfactual.py`)."""
