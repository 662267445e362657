"""adain-lite: a small distilled network that stylizes without torch (ONNX Runtime and numpy).

:mod:`adain.lite.model` is the network in torch (training, export); :mod:`adain.lite.runtime` runs
it without torch. Importing this package imports neither.
"""
