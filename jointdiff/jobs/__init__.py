"""What a workflow job settles before its work starts: GPUs of its own (`gpus`), the processes that use them
(`launch`), and whether its run directory may resume under its config (`resume`). Torch-free, so that a job starts,
waits for its GPUs or is refused in well under a second, and the workflow can check runs at validation."""
