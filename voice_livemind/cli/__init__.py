"""`voice-livemind`: the command line, one module per group of subcommands."""

from .main import main

__all__ = ["main"]
