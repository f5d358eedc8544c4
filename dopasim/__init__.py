"""dopasim: a Brian2 simulator of the brain's reward system."""

__version__ = "0.1.0"
