"""Sampling: seeded, sharded generation into a sample archive (`generate.py`) from the settings of `settings.py`,
guided by the joint classifier (`guidance.py`) toward the targets of `targets.py` (the seeds of `seeds.py`), and
counterfactual explanations (`counterfactual.py`)."""
