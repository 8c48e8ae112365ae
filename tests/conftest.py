"""Shared fixtures. Real-engine fixtures are module-scoped so at most one vLLM engine is alive
at a time: this machine has two cores and each engine pins one."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUESTION = (
    "A farmer has 17 sheep and buys 5 more. Then a storm scares away 8 of them. "
    "The next day 3 of the lost sheep come back. How many sheep does the farmer have now? "
    "Options: (A) 14 (B) 17 (C) 9 (D) 22"
)


@pytest.fixture(scope="session")
def model_dir() -> str:
    from voice_livemind.llm.models import resolve_model

    return resolve_model()
