"""Measuring and learning: evaluation sets, metrics, baselines, the harness, reports, reader training."""
