"""The package's version, written once (``pyproject.toml`` reads it from here); no imports, so any layer may read it."""

__version__ = "0.1.0"
