"""The package's version: the book pins it, and every model card records it."""

__version__ = "0.2.0"
