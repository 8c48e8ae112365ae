"""Spoken benchmark questions: MMLU / MMLU-Pro read aloud, or a folder of user recordings.

A `SpokenQuestion` is a `Question` (for scoring) plus what is said (the reference transcript)
and where its audio comes from: synthesised from the text (cached, see `audio/speech_cache.py`)
or a recording on disk.

A recordings folder holds audio files and `answers.jsonl`, one JSON object a line:

    {"file": "q1.wav", "answer": "B", "text": "What is ...? Option A: ... Option B: ..."}

`file` (relative to the folder; any format FFmpeg reads) and `answer` (the correct letter) are
required; `text` (what is said, for word error rate), `id` (default: the file name without its
suffix), `category` (default "recordings") and `options` (how many options were read out,
default 4) are optional.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .datasets import LETTERS, DatasetError, Question, iter_jsonl

ANSWERS_FILE = "answers.jsonl"


@dataclass(frozen=True)
class SpokenQuestion:
    question: Question
    text: str | None  # what is said; None when a recording comes without a transcript
    audio_file: Path | None = None  # a recording; None: synthesise `text`

    @property
    def id(self) -> str:
        return self.question.id


def spoken_text(question: Question) -> str:
    """How a person reads the question out: the question, then each option as a sentence
    named by its letter ("Option A: the first option. Option B: ...")."""
    said = " ".join(speakable(question.question).split())
    if said and said[-1] not in ".?!:":
        said += "."
    options = " ".join(
        f"Option {letter}: {' '.join(speakable(option).split()).rstrip(' .')}."
        for letter, option in zip(question.letters, question.options, strict=True)
    )
    return f"{said} {options}"


def speakable(text: str) -> str:
    """Blanks and table bars a reader would not pronounce as symbols."""
    text = re.sub(r"_{2,}", " blank ", text)
    return re.sub(r"\s*\|\s*", ", ", text)


def from_questions(questions: list[Question]) -> list[SpokenQuestion]:
    return [SpokenQuestion(q, spoken_text(q)) for q in questions]


def load_recordings(folder: str | Path) -> list[SpokenQuestion]:
    """The recordings listed in `folder/answers.jsonl`; DatasetError naming the line otherwise."""
    folder = Path(folder).expanduser()
    index = folder / ANSWERS_FILE
    if not index.is_file():
        raise DatasetError(f"{folder} holds no {ANSWERS_FILE} (see `voice-livemind bench --help`)")
    items: list[SpokenQuestion] = []
    seen: set[str] = set()
    for where, row in iter_jsonl(index, invalid="invalid JSON"):
        item = _recording(row, folder, where)
        if item.id in seen:
            raise DatasetError(f"{where}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise DatasetError(f"{index} lists no recordings")
    return items


def _recording(row: dict[str, Any], folder: Path, where: str) -> SpokenQuestion:
    name, answer = row.get("file"), row.get("answer")
    if not isinstance(name, str) or not name:
        raise DatasetError(f"{where}: missing field 'file' (the audio file's name)")
    path = folder / name
    if not path.is_file():
        raise DatasetError(f"{where}: no such audio file {str(path)!r}")
    options = row.get("options", 4)
    if isinstance(options, bool) or not isinstance(options, int) or not 1 <= options <= 10:
        raise DatasetError(f"{where}: 'options' should be a number of options, 1 to 10")
    if not isinstance(answer, str) or answer.strip().upper() not in LETTERS[: max(options, 1)]:
        allowed = f"A-{LETTERS[options - 1]}"
        raise DatasetError(f"{where}: 'answer' should be a letter {allowed}, not {answer!r}")
    text = row.get("text")
    if text is not None and not isinstance(text, str):
        raise DatasetError(f"{where}: 'text' should be a string")
    question = Question(
        id=str(row.get("id") or path.stem),
        dataset="recordings",
        category=str(row.get("category") or "recordings"),
        question=text or "",
        options=tuple("" for _ in range(options)),
        answer=answer.strip().upper(),
    )
    return SpokenQuestion(question, text or None, path)
