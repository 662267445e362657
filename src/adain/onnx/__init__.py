"""ONNX: ``export`` writes the full model's graphs, ``runtime`` runs them in ONNX Runtime behind the stylizer interface."""
