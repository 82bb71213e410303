"""Measuring and learning: evaluation sets, metrics, baselines, the harness, reports, the reader's
training data, its training and its calibration."""
