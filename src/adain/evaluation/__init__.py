"""Measuring decoders: evaluation pairs, metrics and reports, the optimisation baseline, benchmarks."""
