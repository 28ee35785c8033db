"""Datasets: the registry of specs (torch-free) and the loaders built on torchvision and scikit-learn."""
