"""Performance benchmarks of jointdiff (not part of the installed package; run from the repository root).

    run.py           the suite: python -m benchmarks.run [--smoke]  (training, optimizer, sampling, FID features)
    gpu_check.py     make gpu-check: the pipeline's own steps on the GPUs, host syncs, GPU-hours per paper experiment
    profile_step.py  where a training step's time goes (torch.profiler, top operators)

    variants.py      the named fast paths (fp32 / bf16, +cl, +compile, /nocls)
    training.py      one training step per variant, as jointdiff.train runs it
    sampling.py      sampler throughput per variant
    fid_features.py  Inception feature throughput, NCHW vs channels_last
    equivalence.py   how close a fast path must be to the fp32 baseline
    common.py        environment record, interleaved timing, peak memory, tables, JSON lines
    results/         JSON lines appended by the scripts (model.jsonl: the first numbers, from bench_model.py)
"""
