"""The voice pipeline: audio -> speech recognition -> LiveMind -> speech out, and turn metrics."""
