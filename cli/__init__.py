"""ivcrush: command line and pipeline orchestration."""

__version__ = "0.1.0"
