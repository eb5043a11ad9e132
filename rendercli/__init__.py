"""rendercli: a command-line render manager for video projects."""

__version__ = "0.1.0"
