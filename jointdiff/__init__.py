"""jointdiff: a reproduction pipeline for Joint Diffusion (Deja, Trzcinski, Tomczak, ECML PKDD 2023)."""

__version__ = "0.1.0"
