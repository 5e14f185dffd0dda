"""The version, in one place: the package metadata, `__version__` and the User-Agent read it."""

__version__ = "0.1.0"
