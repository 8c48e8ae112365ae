"""Where voice-livemind keeps what it builds once per machine: converted models, spoken audio."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir


def cache_dir() -> Path:
    """`$VOICE_LIVEMIND_CACHE`, else the user's cache directory for voice-livemind."""
    return Path(os.environ.get("VOICE_LIVEMIND_CACHE", user_cache_dir("voice-livemind")))
