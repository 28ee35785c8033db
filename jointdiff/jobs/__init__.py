"""Running a command as a workflow job: GPUs of its own (`gpus`) and the processes that use them (`launch`).
Torch-free, so that a job starts (or waits for its GPUs) in well under a second."""
