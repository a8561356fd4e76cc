"""``make gpu-check``: one command that measures, on a CUDA machine, what the pipeline has only
run on a CPU: the GPU-only paths, the bench's MFU (eager and compiled), one grid cell's time
against the planner's, the features stage and one evaluation. See :mod:`clar.gpucheck.runner`.
"""
