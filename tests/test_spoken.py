"""Spoken questions: how a question is read out, recordings folders, and scoring transcripts."""

from __future__ import annotations

import json

import pytest
from speech import silence, write_wav

from voice_livemind.asr.wer import word_errors
from voice_livemind.bench.datasets import DatasetError, Question
from voice_livemind.bench.spoken import from_questions, load_recordings, spoken_text

Q = Question("q1", "mmlu", "astronomy", "Which planet is red?", ("Mars.", "Venus", "Earth"), "A")


def test_a_question_is_read_with_its_options_after_their_letters():
    assert spoken_text(Q) == "Which planet is red? Options. A, Mars. B, Venus. C, Earth."
    blank = Question("q2", "mmlu", "x", "Scenario 1 | I ran ___ fast", ("a", "b"), "B")
    assert spoken_text(blank).startswith("Scenario 1, I ran blank fast. Options.")
    [item] = from_questions([Q])
    assert item.id == "q1" and item.text == spoken_text(Q) and item.audio_file is None


def test_transcript_scoring_is_word_error_rate_against_what_was_said():
    said = spoken_text(Q)
    heard = "Which planet is red? Options. A, Mars. Be Venus. See Earth."
    errors = word_errors(said, heard)
    assert (errors.edits, errors.reference_words) == (2, 11)
    assert word_errors(said, said.lower().replace(",", "")).edits == 0


def write_folder(tmp_path, rows: list[str]):
    for name in ("q1.wav", "q2.flac"):
        write_wav(tmp_path / name, silence(0.5))
    (tmp_path / "answers.jsonl").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_recordings_folder_is_loaded_with_defaults(tmp_path):
    folder = write_folder(tmp_path, [
        json.dumps({"file": "q1.wav", "answer": "b", "text": "Is it B? Options. A, no. B, yes."}),
        "",
        json.dumps({"file": "q2.flac", "answer": "F", "id": "six", "options": 6,
                    "category": "mine"}),
    ])  # fmt: skip
    first, second = load_recordings(folder)
    assert first.id == "q1" and first.question.answer == "B" and first.question.letters[-1] == "D"
    assert first.text.startswith("Is it B?") and first.audio_file == folder / "q1.wav"
    assert second.id == "six" and second.text is None and second.question.category == "mine"
    assert second.question.letters == tuple("ABCDEF")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{not json", r"line 2: invalid JSON"),
        ('["q1.wav", "B"]', r"line 2: expected a JSON object"),
        ('{"answer": "B"}', r"line 2: missing field 'file'"),
        ('{"file": "nope.wav", "answer": "B"}', r"line 2: no such audio file .*nope\.wav"),
        ('{"file": "q2.flac", "answer": "E"}', r"line 2: 'answer' should be a letter A-D"),
        ('{"file": "q2.flac", "answer": "A", "options": "4"}', r"line 2: 'options'"),
        ('{"file": "q1.wav", "answer": "A"}', r"line 2: duplicate id 'q1'"),
    ],
)
def test_a_malformed_row_is_a_one_line_error_naming_the_line(tmp_path, row, message):
    folder = write_folder(tmp_path, ['{"file": "q1.wav", "answer": "A"}', row])
    with pytest.raises(DatasetError, match=message) as info:
        load_recordings(folder)
    assert "\n" not in str(info.value) and "answers.jsonl" in str(info.value)


def test_a_folder_without_answers_is_refused(tmp_path):
    with pytest.raises(DatasetError, match=r"holds no answers\.jsonl"):
        load_recordings(tmp_path)
