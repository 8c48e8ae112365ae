"""Benchmark questions: MMLU and MMLU-Pro from local files or the Hugging Face Hub.

Everything becomes one `Question` record, so the benchmark runner, scoring and resume never care
which dataset or file format a question came from. Sampling follows the LiveMind paper's code
(shuffle with seed 42, then `n` questions split evenly across categories).

Accepted sources (`load_questions`):
- "mmlu" / "mmlu-pro": the small samples shipped in `voice_livemind/data/`;
- a .jsonl, .json, .parquet or .csv file in the official layout of `cais/mmlu` (question, subject,
  choices, answer 0-3) or `TIGER-Lab/MMLU-Pro` (question_id, question, options, answer letter,
  answer_index, category, src); CSV may also be the original headerless MMLU layout
  `question,A,B,C,D,answer_letter`, the subject then comes from the file name;
- a directory of such files (e.g. the original MMLU `data/test/` of `*_test.csv`);
- a Hub name such as "cais/mmlu" or "TIGER-Lab/MMLU-Pro" (needs the `datasets` package and a
  network connection).
"""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import os
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

LETTERS = "ABCDEFGHIJ"
MMLU, MMLU_PRO = "mmlu", "mmlu-pro"
# The paper's fixed category orders (LiveMind `live_mind/utils/dataset/`): with `n` not a multiple
# of the number of categories, the first categories in this order get one question more.
MMLU_PRO_CATEGORIES = (
    "computer science", "math", "chemistry", "engineering", "law", "biology", "health",
    "physics", "business", "philosophy", "economics", "other", "psychology", "history",
)  # fmt: skip
MMLU_SUBJECTS = (
    "human sexuality", "moral scenarios", "prehistory", "astronomy", "professional medicine",
    "high school macroeconomics", "international law", "high school world history", "marketing",
    "high school geography", "moral disputes", "college mathematics", "elementary mathematics",
    "high school microeconomics", "anatomy", "college medicine", "business ethics",
    "world religions", "high school statistics", "medical genetics", "human aging",
    "high school computer science", "college computer science", "nutrition", "sociology",
    "us foreign policy", "global facts", "philosophy", "high school chemistry",
    "college chemistry", "high school biology", "high school psychology", "formal logic",
    "high school european history", "college biology", "miscellaneous", "professional law",
    "high school physics", "jurisprudence", "clinical knowledge", "professional accounting",
    "security studies", "professional psychology", "management", "abstract algebra", "virology",
    "high school government and politics", "high school mathematics", "logical fallacies",
    "public relations", "college physics", "electrical engineering", "econometrics",
    "computer security", "machine learning", "high school us history", "conceptual physics",
)  # fmt: skip
SAMPLE_FILES = {MMLU: "mmlu_sample.jsonl", MMLU_PRO: "mmlu_pro_sample.jsonl"}
SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
HUB_CONFIGS = {"cais/mmlu": "all"}  # cais/mmlu has one config per subject; "all" holds them all
# One option is allowed, not two: the MMLU-Pro test split as rebuilt in ../shared/data has five
# single-option questions (an older state of the question bank, TIGER-AI-Lab/MMLU-Pro issue #14),
# and dropping them would change which questions the seed-42 shuffle picks.
MIN_OPTIONS = 1

_HUB_NAME = re.compile(r"[\w.-]+/[\w.-]+")
_SPLIT_FILE_SUFFIX = re.compile(r"_(test|dev|val|validation|train)$")


class DatasetError(ValueError):
    """A source that cannot be read, or a malformed row; the message is one line."""


@dataclass(frozen=True)
class Question:
    """One multiple-choice question; `id` is stable across runs, so results can be resumed."""

    id: str
    dataset: str  # "mmlu" or "mmlu-pro"
    category: str  # MMLU subject or MMLU-Pro category, lower case with spaces
    question: str
    options: tuple[str, ...]
    answer: str  # the correct letter, "A".."J"

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(LETTERS[: len(self.options)])

    @property
    def answer_index(self) -> int:
        return LETTERS.index(self.answer)

    @property
    def options_text(self) -> str:
        """The options as the paper's code shows them: "Options are:\\n(A): x\\n(B): y\\n"."""
        pairs = zip(self.letters, self.options, strict=True)
        return "Options are:\n" + "".join(f"({letter}): {text}\n" for letter, text in pairs)


def load_questions(
    source: str | os.PathLike[str], dataset: str | None = None, split: str = "test"
) -> list[Question]:
    """All questions of `source` (see the module docstring), in source order.

    `dataset` ("mmlu" or "mmlu-pro") forces the layout; by default it is detected from the first
    row's fields. `split` picks the Hub split, or the files of that split in a directory.
    """
    source = os.fspath(source)
    if dataset not in (None, MMLU, MMLU_PRO):
        raise DatasetError(f"unknown dataset {dataset!r}: expected {MMLU!r} or {MMLU_PRO!r}")
    if source in SAMPLE_FILES:  # the short names win over a local file or folder of that name
        sample = resources.files("voice_livemind").joinpath("data", SAMPLE_FILES[source])
        with resources.as_file(sample) as path:
            return _build(_read_file(path), dataset or source)
    path = Path(source).expanduser()
    if path.is_dir():
        return _build((row for p in _split_files(path, split) for row in _read_file(p)), dataset)
    if path.is_file():
        return _build(_read_file(path), dataset)
    if _HUB_NAME.fullmatch(source) and path.suffix not in SUFFIXES:
        return _build(_read_hub(source, split), dataset)
    raise DatasetError(f"no such file or directory: {source}")


def category_order(questions: Iterable[Question]) -> list[str]:
    """The categories present, in the paper's order for MMLU-Pro and MMLU, else sorted."""
    questions = list(questions)
    datasets = {q.dataset for q in questions}
    fixed = {MMLU_PRO: MMLU_PRO_CATEGORIES, MMLU: MMLU_SUBJECTS}
    rank = {c: i for i, c in enumerate(fixed.get(datasets.pop(), ()) if len(datasets) == 1 else ())}
    return sorted({q.category for q in questions}, key=lambda c: (rank.get(c, len(rank)), c))


def sample_questions(
    questions: Sequence[Question], n: int | None, seed: int = 42
) -> list[Question]:
    """`n` questions as the paper samples them, grouped by category in `category_order`.

    Shuffle a copy with `random.Random(seed)`, give each category `n // num_categories` questions
    and the first `n % num_categories` categories one more, and take each category's first ones
    in shuffled order. A category with too few questions gives all it has; nothing is refilled
    from other categories. `n` None (or at least the number of questions) gives them all.
    The paper shuffles with HF `Dataset.shuffle(seed=42)`, which orders differently, so the same
    seed picks other questions than the paper's runs did; the per-category counts match.
    """
    if n is not None and n < 0:
        raise ValueError(f"n must be None or >= 0, not {n}")
    shuffled = list(questions)
    random.Random(seed).shuffle(shuffled)
    by_category: dict[str, list[Question]] = defaultdict(list)
    for question in shuffled:
        by_category[question.category].append(question)
    order = category_order(shuffled)
    if n is None or n >= len(shuffled):
        return [q for c in order for q in by_category[c]]
    base, extra = divmod(n, len(order))
    return [q for i, c in enumerate(order) for q in by_category[c][: base + (i < extra)]]


# --- building questions from rows -------------------------------------------------------------

Rows = Iterable[tuple[str, dict[str, Any]]]  # (where, e.g. "data.jsonl line 3", row)


def _build(rows: Rows, dataset: str | None) -> list[Question]:
    """Questions from rows; the layout comes from the first row unless `dataset` is given."""
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for where, row in rows:
        if dataset is None:
            dataset = _detect_layout(row, where)
        question = _mmlu_pro_row(row, where) if dataset == MMLU_PRO else _mmlu_row(row, where)
        count = seen[question.id] = seen.get(question.id, 0) + 1
        if count > 1 and dataset == MMLU_PRO:
            raise DatasetError(f"{where}: duplicate question_id ({question.id})")
        if count > 1:  # MMLU repeats 27 questions word for word: number the repeats
            question = replace(question, id=f"{question.id}-{count}")
        questions.append(question)
    return questions


def _detect_layout(row: dict[str, Any], where: str) -> str:
    for field, layout in (("options", MMLU_PRO), ("choices", MMLU)):
        if field in row:
            return layout
    raise DatasetError(
        f"{where}: cannot tell the layout: expected field 'choices' (MMLU) or 'options' (MMLU-Pro)"
    )


def _mmlu_row(row: dict[str, Any], where: str) -> Question:
    options = _options(row, "choices", where)  # first: the field that tells the layouts apart
    question = _field(row, "question", where, str)
    category = _category(_field(row, "subject", where, str))
    letter = _letter(_field(row, "answer", where), options, where)
    # MMLU has no ids: hash what identifies the question, so the id survives file formats and
    # row order (the subject is normalised first: the Hub uses underscores, the shared file not).
    digest = hashlib.sha1("\x1f".join((category, question, *options)).encode()).hexdigest()
    return Question(f"mmlu-{digest[:12]}", MMLU, category, question, options, letter)


def _mmlu_pro_row(row: dict[str, Any], where: str) -> Question:
    options = _options(row, "options", where)  # first: the field that tells the layouts apart
    question_id = str(_field(row, "question_id", where)).strip()
    question = _field(row, "question", where, str)
    category = _category(_field(row, "category", where, str))
    index = row.get("answer_index")
    by_index = None if index in (None, "") else _letter(index, options, where, "answer_index")
    if row.get("answer") in (None, "") and by_index:  # only the index given: that will do
        letter = by_index
    else:
        letter = _letter(_field(row, "answer", where), options, where)
    if by_index and by_index != letter:
        raise DatasetError(f"{where}: answer {letter!r} disagrees with answer_index {index}")
    return Question(f"mmlu-pro-{question_id}", MMLU_PRO, category, question, options, letter)


def _field(row: dict[str, Any], name: str, where: str, kind: type | None = None) -> Any:
    value = row.get(name)
    if value is None or value == "":
        raise DatasetError(f"{where}: missing field {name!r}")
    if kind is not None and not isinstance(value, kind):
        got = type(value).__name__
        raise DatasetError(f"{where}: field {name!r} should be {kind.__name__}, not {got}")
    return value


def _category(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())


def _options(row: dict[str, Any], name: str, where: str) -> tuple[str, ...]:
    value = _field(row, name, where)
    if isinstance(value, str):  # a list written into one CSV cell, as JSON or as a Python repr
        value = _parse_list(value, name, where)
    if not isinstance(value, list | tuple):
        raise DatasetError(f"{where}: field {name!r} should be a list, not {type(value).__name__}")
    if not MIN_OPTIONS <= len(value) <= len(LETTERS):
        raise DatasetError(
            f"{where}: {len(value)} {name}, expected {MIN_OPTIONS} to {len(LETTERS)}"
        )
    for i, option in enumerate(value):
        if not isinstance(option, str):
            raise DatasetError(f"{where}: {name} {LETTERS[i]} is {type(option).__name__}, not text")
    return tuple(value)


def _parse_list(text: str, name: str, where: str) -> Any:
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError):
            pass
    raise DatasetError(f"{where}: field {name!r} is not a list: {text[:40]!r}")


def _letter(answer: Any, options: Sequence[str], where: str, name: str = "answer") -> str:
    """The correct letter from an index (MMLU `answer`, `answer_index`) or a letter."""
    if isinstance(answer, str) and answer.strip().isdigit():  # CSV cells are text
        answer = int(answer)
    if isinstance(answer, int) and not isinstance(answer, bool):
        if 0 <= answer < len(options):
            return LETTERS[answer]
        raise DatasetError(f"{where}: {name} {answer} out of range for {len(options)} options")
    letters = LETTERS[: len(options)]
    letter = answer.strip().upper() if isinstance(answer, str) else ""
    if len(letter) == 1 and letter in letters:
        return letter
    raise DatasetError(
        f"{where}: {name} {answer!r} is not among the {len(options)} options (A-{letters[-1]})"
    )


# --- reading files and the Hub ----------------------------------------------------------------


def _read_file(path: Path) -> Rows:
    readers = {".jsonl": iter_jsonl, ".json": _read_json, ".parquet": _read_parquet}
    reader = {**readers, ".csv": _read_csv}.get(path.suffix.lower())
    if reader is None:
        raise DatasetError(f"{path}: unsupported file type, expected one of {', '.join(SUFFIXES)}")
    return reader(path)


def _split_files(folder: Path, split: str) -> list[Path]:
    """The data files of `split` in `folder`: its `split/` subfolder if there is one, and only
    the files naming the split (`*_test.csv`, `test-00000-of-00001.parquet`) if any do."""
    if (folder / split).is_dir():
        folder = folder / split
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    named = re.compile(rf"(^|[_.-]){re.escape(split)}([_.-]|$)")
    files = [p for p in files if named.search(p.stem)] or files
    if not files:
        raise DatasetError(f"{folder}: no {', '.join(SUFFIXES)} files in this directory")
    return files


def iter_jsonl(
    path: str | Path, *, where: str = "{path} line {line}", invalid: str = "not valid JSON"
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, row) for each JSON object in a JSON Lines file, `where` naming its line
    ("data.jsonl line 3"; blank lines are skipped but counted). A line that is not JSON, or not
    a JSON object, is a one-line DatasetError (a ValueError) naming the line.

    `where` (with `{path}` and `{line}`) and `invalid` let each kind of file keep the wording its
    messages have always had, e.g. "results.jsonl:3: invalid JSON" for bench results."""
    with open(path, encoding="utf-8") as lines:  # `path` as given: messages name it unchanged
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            here = where.format(path=path, line=number)
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{here}: {invalid} ({exc.msg})") from None
            yield _as_row(row, here)


def _read_json(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # JSON Lines named .json, as HF `Dataset.to_json` writes
            yield from iter_jsonl(path)
            return
        raise DatasetError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON array of questions or JSON Lines")
    for number, row in enumerate(data, 1):
        yield _as_row(row, f"{path} item {number}")


def _read_parquet(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq  # optional: only parquet sources need it
    except ImportError:
        raise DatasetError(
            f"{path}: reading .parquet needs pyarrow (pip install pyarrow); or pass a .jsonl file"
        ) from None
    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow's errors: not parquet, truncated, unreadable
        raise DatasetError(f"{path}: cannot read as parquet ({_first_line(exc)})") from exc
    for number, row in enumerate(rows, 1):
        yield f"{path} row {number}", row


def _read_csv(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Rows of a headered CSV (the JSONL fields as columns), or of MMLU's original headerless
    `question,A,B,C,D,answer` files; `where` names the line the record starts on."""
    subject = _SPLIT_FILE_SUFFIX.sub("", path.stem)  # abstract_algebra_test.csv
    with path.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        header: list[str] | None = None  # [] once the first record turned out to be data
        start = 1
        for record in reader:
            where, start = f"{path} line {start}", reader.line_num + 1
            if not record:
                continue
            if header is None:
                cells = [cell.strip() for cell in record]
                header = cells if {"question", "answer"} <= set(cells) else []
                if header:
                    continue
            if header:
                yield where, _header_row(header, record, where)
            elif len(record) < 3:
                raise DatasetError(f"{where}: expected question, choices and answer letter")
            else:
                row = {"question": record[0], "choices": record[1:-1], "answer": record[-1]}
                yield where, {**row, "subject": subject}


def _header_row(header: list[str], record: list[str], where: str) -> dict[str, Any]:
    """A headered record as a row; option columns "A".."J" become the `choices`/`options` list."""
    if len(record) != len(header):
        raise DatasetError(f"{where}: {len(record)} columns, the header has {len(header)}")
    row = dict(zip(header, record, strict=True))
    letter_columns = [letter for letter in LETTERS if letter in row]
    if letter_columns and "choices" not in row and "options" not in row:
        options = [row.pop(letter) for letter in letter_columns]
        row["options" if "category" in row else "choices"] = options
    return row


def _read_hub(name: str, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        import datasets as hf  # optional and heavy: only Hub sources need it
    except ImportError:
        raise DatasetError(
            f"{name!r} is no local file, and loading it from the Hugging Face Hub needs the "
            "'datasets' package, which is not installed; pass a local .jsonl/.parquet/.csv file"
        ) from None
    try:
        table = hf.load_dataset(name, HUB_CONFIGS.get(name), split=split)
    except Exception as exc:  # offline, unknown name or split: all mean "use a local file"
        raise DatasetError(
            f"{name!r} is no local file, and loading it from the Hugging Face Hub (split "
            f"{split!r}) failed: {_first_line(exc)}; pass a local file instead"
        ) from exc
    for number, row in enumerate(table, 1):
        yield f"{name}[{split}] row {number}", dict(row)


def _as_row(value: Any, where: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(value, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return where, value


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
