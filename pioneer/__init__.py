"""Pioneer: keeps small language models improving in production."""

__version__ = "0.1.0"
