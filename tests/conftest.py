"""Shared test set-up: one torch thread.

The test models are tiny; with two threads torch's workers wait on each other's time slices
whenever anything else runs on the machine, which made small tests up to 40x slower.
"""
import torch

torch.set_num_threads(1)
