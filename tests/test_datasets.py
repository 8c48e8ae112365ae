"""Loading MMLU / MMLU-Pro from every supported source, malformed rows, and paper sampling."""

from __future__ import annotations

import csv
import json
import os
import random
import sys
import types
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from voice_livemind.bench.datasets import (
    MMLU_PRO_CATEGORIES,
    MMLU_SUBJECTS,
    DatasetError,
    Question,
    category_order,
    iter_jsonl,
    load_questions,
    sample_questions,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("VOICE_LIVEMIND_DATA_DIR", REPO_ROOT / "../shared/data"))
needs_shared_data = pytest.mark.skipif(
    not (DATA_DIR / "mmlu_test.jsonl").is_file(), reason=f"no benchmark data in {DATA_DIR}"
)

MMLU_ROWS = [
    {"question": "Find the degree of Q(sqrt(2)) over Q.", "subject": "abstract_algebra",
     "choices": ["0", "2", "4", "6"], "answer": 1},
    {"question": "Which organ pumps blood?", "subject": "anatomy",
     "choices": ["Lung", "Liver", "Heart", "Kidney"], "answer": 2},
]  # fmt: skip
PRO_ROWS = [
    {"question_id": 70, "question": "Adverts must not encourage ____.",
     "options": ["Safe practices", "Unsafe practices", "Joy", "Fear", "Trust"], "answer": "B",
     "answer_index": 1, "category": "business", "src": "ori_mmlu-business_ethics"},
    {"question_id": 71, "question": "What is 2 + 2?", "options": ["3", "4", "5"], "answer": "B",
     "answer_index": 1, "category": "math", "src": "stemez-Math"},
]  # fmt: skip


def write_jsonl(path: Path, rows: list[Any], blank_after_first: bool = False) -> Path:
    lines = [json.dumps(row) if not isinstance(row, str) else row for row in rows]
    if blank_after_first:
        lines.insert(1, "")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_csv(path: Path, records: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file).writerows(records)
    return path


def make_questions(sizes: dict[str, int], dataset: str = "mmlu") -> list[Question]:
    return [
        Question(f"{category}-{i}", dataset, category, f"q{i}", ("x", "y"), "A")
        for category, size in sizes.items()
        for i in range(size)
    ]


# --- layouts and file formats ------------------------------------------------------------------


def test_jsonl_mmlu_layout(tmp_path: Path) -> None:
    first, second = load_questions(str(write_jsonl(tmp_path / "m.jsonl", MMLU_ROWS)))
    assert (first.dataset, first.category, first.answer) == ("mmlu", "abstract algebra", "B")
    assert first.options == ("0", "2", "4", "6") and first.letters == ("A", "B", "C", "D")
    assert first.id.startswith("mmlu-") and first.id != second.id
    assert (second.answer, second.answer_index) == ("C", 2)


def test_jsonl_mmlu_pro_layout(tmp_path: Path) -> None:
    first, second = load_questions(str(write_jsonl(tmp_path / "p.jsonl", PRO_ROWS)))
    assert (first.id, first.dataset, first.category) == ("mmlu-pro-70", "mmlu-pro", "business")
    assert first.answer == "B" and first.letters == ("A", "B", "C", "D", "E")
    assert len(second.options) == 3
    assert first.options_text == (
        "Options are:\n(A): Safe practices\n(B): Unsafe practices\n(C): Joy\n(D): Fear\n"
        "(E): Trust\n"
    )


def test_mmlu_ids_survive_subject_spelling_and_row_order(tmp_path: Path) -> None:
    spaced = [{**row, "subject": row["subject"].replace("_", " ")} for row in MMLU_ROWS[::-1]]
    a = load_questions(str(write_jsonl(tmp_path / "a.jsonl", MMLU_ROWS)))
    b = load_questions(str(write_jsonl(tmp_path / "b.jsonl", spaced)))
    assert {q.id for q in a} == {q.id for q in b}


def test_repeated_mmlu_question_gets_numbered_id(tmp_path: Path) -> None:
    rows = [MMLU_ROWS[0], MMLU_ROWS[1], MMLU_ROWS[0]]
    ids = [q.id for q in load_questions(str(write_jsonl(tmp_path / "m.jsonl", rows)))]
    assert ids[2] == f"{ids[0]}-2" and len(set(ids)) == 3


def test_json_array_and_json_lines_named_json(tmp_path: Path) -> None:
    (tmp_path / "array.json").write_text(json.dumps(PRO_ROWS), encoding="utf-8")
    lines = write_jsonl(tmp_path / "lines.json", PRO_ROWS)
    assert [q.id for q in load_questions(str(tmp_path / "array.json"))] == [
        "mmlu-pro-70",
        "mmlu-pro-71",
    ]
    assert load_questions(str(lines)) == load_questions(str(tmp_path / "array.json"))


@pytest.mark.parametrize("rows", [MMLU_ROWS, PRO_ROWS], ids=["mmlu", "mmlu-pro"])
def test_parquet_matches_jsonl(tmp_path: Path, rows: list[dict[str, Any]]) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "test-00000-of-00001.parquet")
    expected = load_questions(str(write_jsonl(tmp_path / "rows.jsonl", rows)))
    assert load_questions(str(tmp_path / "test-00000-of-00001.parquet")) == expected


def test_headerless_mmlu_csv_takes_subject_from_file_name(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "high_school_physics_test.csv",
        [["A ball falls.\nHow fast?", "1 m/s", "2 m/s", "3 m/s", "4 m/s", "C"]] * 2,
    )
    questions = load_questions(str(path))
    assert len(questions) == 2 and questions[0].category == "high school physics"
    assert questions[0].question == "A ball falls.\nHow fast?" and questions[0].answer == "C"
    assert questions[1].id == f"{questions[0].id}-2"


def test_headered_csv_with_list_columns(tmp_path: Path) -> None:
    header = list(PRO_ROWS[0])
    records = [[json.dumps(v) if k == "options" else v for k, v in PRO_ROWS[0].items()]]
    records.append([repr(v) if k == "options" else v for k, v in PRO_ROWS[1].items()])
    path = write_csv(tmp_path / "pro.csv", [header, *records])
    assert load_questions(str(path)) == load_questions(
        str(write_jsonl(tmp_path / "pro.jsonl", PRO_ROWS))
    )
    mmlu_records = [
        [json.dumps(v) if k == "choices" else v for k, v in r.items()] for r in MMLU_ROWS
    ]
    mmlu = write_csv(tmp_path / "mmlu.csv", [list(MMLU_ROWS[0]), *mmlu_records])
    assert [q.answer for q in load_questions(str(mmlu))] == ["B", "C"]


def test_headered_csv_with_letter_columns(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "mmlu.csv",
        [
            ["question", "subject", "A", "B", "C", "D", "answer"],
            ["2+2?", "math", "3", "4", "5", "6", "B"],
        ],
    )
    (question,) = load_questions(str(path))
    assert question.options == ("3", "4", "5", "6") and question.answer == "B"


def test_directory_of_mmlu_csvs_uses_the_split_folder(tmp_path: Path) -> None:
    for split in ("test", "dev"):
        (tmp_path / split).mkdir()
        for subject in ("anatomy", "virology"):
            write_csv(
                tmp_path / split / f"{subject}_{split}.csv",
                [[f"{split} {subject} {i}?", "a", "b", "c", "d", "D"] for i in range(3)],
            )
    test = load_questions(str(tmp_path))
    assert len(test) == 6 and {q.category for q in test} == {"anatomy", "virology"}
    assert all(q.question.startswith("test ") for q in test)
    assert all(q.question.startswith("dev ") for q in load_questions(str(tmp_path), split="dev"))


def test_directory_keeps_only_files_naming_the_split(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "test-00000-of-00001.jsonl", PRO_ROWS[:1])
    write_jsonl(tmp_path / "validation-00000-of-00001.jsonl", PRO_ROWS[1:])
    assert [q.id for q in load_questions(str(tmp_path))] == ["mmlu-pro-70"]
    assert [q.id for q in load_questions(str(tmp_path), split="validation")] == ["mmlu-pro-71"]


def test_forced_dataset_checks_the_layout(tmp_path: Path) -> None:
    path = str(write_jsonl(tmp_path / "m.jsonl", MMLU_ROWS))
    assert len(load_questions(path, dataset="mmlu")) == 2
    with pytest.raises(DatasetError, match="line 1: missing field 'options'"):
        load_questions(path, dataset="mmlu-pro")
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_questions(path, dataset="gsm8k")


# --- malformed input ---------------------------------------------------------------------------

BAD_ROWS = [
    (MMLU_ROWS, {"question": None}, "missing field 'question'"),
    (MMLU_ROWS, {"subject": ""}, "missing field 'subject'"),
    (MMLU_ROWS, {"answer": 4}, "answer 4 out of range for 4 options"),
    (MMLU_ROWS, {"choices": "not a list"}, "field 'choices' is not a list"),
    (MMLU_ROWS, {"choices": ["a", 2, "c", "d"]}, "choices B is int, not text"),
    (PRO_ROWS, {"answer": "F"}, "answer 'F' is not among the 5 options"),
    (PRO_ROWS, {"answer": "B", "answer_index": 3}, "disagrees with answer_index 3"),
    (PRO_ROWS, {"options": []}, "0 options"),
    (PRO_ROWS, {"options": [str(i) for i in range(11)]}, "11 options"),
    (PRO_ROWS, {"question_id": None}, "missing field 'question_id'"),
]


@pytest.mark.parametrize(("rows", "change", "message"), BAD_ROWS)
def test_malformed_jsonl_row_names_file_and_line(
    tmp_path: Path, rows: list[dict[str, Any]], change: dict[str, Any], message: str
) -> None:
    # Line 1 is good, line 2 blank (skipped but counted), line 3 the bad one.
    path = write_jsonl(tmp_path / "bad.jsonl", [rows[1], {**rows[0], **change}], True)
    with pytest.raises(DatasetError, match=message) as error:
        load_questions(str(path))
    text = str(error.value)
    assert "bad.jsonl line 3:" in text and "\n" not in text


@pytest.mark.parametrize(
    ("line", "message"),
    [("{not json", "not valid JSON"), ("[1, 2]", "expected a JSON object, got list")],
)
def test_unreadable_jsonl_line(tmp_path: Path, line: str, message: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [MMLU_ROWS[0], line])
    with pytest.raises(DatasetError, match=f"bad.jsonl line 2: {message}"):
        load_questions(str(path))


def test_iter_jsonl_names_each_line_in_the_wording_asked_for(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [{"a": 1}, {"b": 2}, "{oops"], True)
    rows = iter_jsonl(path, where="{path}:{line}", invalid="invalid JSON")
    assert next(rows) == (f"{path}:1", {"a": 1})
    assert next(rows) == (f"{path}:3", {"b": 2})  # the blank line 2 is counted, not yielded
    with pytest.raises(DatasetError, match=r"rows\.jsonl:4: invalid JSON \(") as error:
        next(rows)
    assert "\n" not in str(error.value)


def test_duplicate_mmlu_pro_id_is_an_error(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "dup.jsonl", [PRO_ROWS[0], PRO_ROWS[0]])
    with pytest.raises(DatasetError, match=r"dup.jsonl line 2: duplicate question_id"):
        load_questions(str(path))


def test_malformed_csv_record_names_its_first_line(tmp_path: Path) -> None:
    good = ["Two\nline question?", "a", "b", "c", "d", "A"]  # a record spanning lines 1-2
    path = write_csv(tmp_path / "x_test.csv", [good, ["Q?", "a", "b", "c", "d", "E"]])
    with pytest.raises(DatasetError, match=r"x_test.csv line 3: answer 'E' is not among"):
        load_questions(str(path))


def test_malformed_parquet_row_names_the_row(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [MMLU_ROWS[0], {**MMLU_ROWS[1], "answer": 9}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "bad.parquet")
    with pytest.raises(DatasetError, match=r"bad.parquet row 2: answer 9 out of range"):
        load_questions(str(tmp_path / "bad.parquet"))


def test_parquet_without_pyarrow_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    (tmp_path / "data.parquet").write_bytes(b"PAR1")
    with pytest.raises(DatasetError, match=r"data\.parquet: reading \.parquet needs pyarrow"):
        load_questions(tmp_path / "data.parquet")


def test_unknown_layout_and_missing_sources(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "other.jsonl", [{"question": "q", "answer": 1}])
    with pytest.raises(DatasetError, match=r"other\.jsonl line 1: cannot tell the layout"):
        load_questions(str(path))
    with pytest.raises(DatasetError, match="no such file"):
        load_questions(str(tmp_path / "absent.jsonl"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match="unsupported file type"):
        load_questions(tmp_path / "notes.txt")
    (tmp_path / "fake.parquet").write_text("not parquet")
    pytest.importorskip("pyarrow")
    with pytest.raises(DatasetError, match=r"fake\.parquet: cannot read as parquet"):
        load_questions(tmp_path / "fake.parquet")


# --- the Hugging Face Hub (faked: tests never reach the network) --------------------------------


def test_hub_without_datasets_package_asks_for_a_local_file(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(DatasetError, match="not installed; pass a local"):
        load_questions("cais/mmlu")


def test_hub_rows_are_loaded_with_the_all_config(monkeypatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def load_dataset(name: str, config: str | None, split: str) -> list[dict[str, Any]]:
        calls.append((name, config, split))
        return MMLU_ROWS

    fake = types.SimpleNamespace(load_dataset=load_dataset)
    monkeypatch.setitem(sys.modules, "datasets", fake)
    questions = load_questions("cais/mmlu")
    assert calls == [("cais/mmlu", "all", "test")]
    assert [q.category for q in questions] == ["abstract algebra", "anatomy"]


def test_hub_failure_is_one_line(monkeypatch) -> None:
    def load_dataset(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("offline\nmore detail")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    with pytest.raises(DatasetError, match=r"TIGER-Lab/MMLU-Pro.*offline; pass a local") as error:
        load_questions("TIGER-Lab/MMLU-Pro")
    assert "\n" not in str(error.value)


# --- shipped samples and the full shared files -------------------------------------------------


@pytest.mark.parametrize(("name", "rows", "per_category"), [("mmlu", 57, 1), ("mmlu-pro", 140, 10)])
def test_shipped_samples_load_by_short_name(name: str, rows: int, per_category: int) -> None:
    questions = load_questions(name)
    assert len(questions) == rows and {q.dataset for q in questions} == {name}
    assert set(Counter(q.category for q in questions).values()) == {per_category}
    sample = REPO_ROOT / "voice_livemind/data" / f"{name.replace('-', '_')}_sample.jsonl"
    assert sample.stat().st_size < 150_000


@pytest.fixture(scope="module")
def full_mmlu() -> list[Question]:
    return load_questions(str(DATA_DIR / "mmlu_test.jsonl"))


@pytest.fixture(scope="module")
def full_mmlu_pro() -> list[Question]:
    return load_questions(str(DATA_DIR / "mmlu_pro_test.jsonl"))


@needs_shared_data
def test_full_mmlu_loads(full_mmlu: list[Question]) -> None:
    assert len(full_mmlu) == 14_042 and len({q.id for q in full_mmlu}) == 14_042
    assert {q.category for q in full_mmlu} == set(MMLU_SUBJECTS)


@needs_shared_data
def test_full_mmlu_pro_loads(full_mmlu_pro: list[Question]) -> None:
    assert len(full_mmlu_pro) == 12_032 and len({q.id for q in full_mmlu_pro}) == 12_032
    assert {q.category for q in full_mmlu_pro} == set(MMLU_PRO_CATEGORIES)


@needs_shared_data
def test_paper_sample_of_1000_mmlu_pro(full_mmlu_pro: list[Question]) -> None:
    picked = sample_questions(full_mmlu_pro, 1000)
    counts = Counter(q.category for q in picked)
    assert [counts[c] for c in MMLU_PRO_CATEGORIES] == [72] * 6 + [71] * 8
    assert [q.id for q in picked] == [q.id for q in sample_questions(full_mmlu_pro, 1000)]


# --- sampling ----------------------------------------------------------------------------------


def test_sampling_is_deterministic_per_seed() -> None:
    questions = make_questions({"a": 20, "b": 20})
    first = sample_questions(questions, 10)
    assert first == sample_questions(questions, 10)
    assert first != sample_questions(questions, 10, seed=7)


def test_sampling_takes_the_first_shuffled_questions_of_each_category() -> None:
    questions = make_questions({"b": 6, "a": 6})
    shuffled = list(questions)
    random.Random(42).shuffle(shuffled)
    first = {c: [q for q in shuffled if q.category == c][:2] for c in "ab"}
    assert sample_questions(questions, 4) == first["a"] + first["b"]


@pytest.mark.parametrize(
    ("dataset", "sizes", "n", "expected"),
    [
        # remainder to the first categories; unknown categories in sorted order
        ("mmlu", {"c": 9, "a": 9, "b": 9}, 8, {"a": 3, "b": 3, "c": 2}),
        # a small category gives what it has; nothing is refilled from the others
        ("mmlu", {"a": 1, "b": 10, "c": 10}, 9, {"a": 1, "b": 3, "c": 3}),
        # MMLU-Pro in the paper's order: computer science, math, chemistry
        ("mmlu-pro", {"math": 9, "chemistry": 9, "computer science": 9}, 7,
         {"computer science": 3, "math": 2, "chemistry": 2}),
    ],
)  # fmt: skip
def test_n_is_split_evenly_across_categories(
    dataset: str, sizes: dict[str, int], n: int, expected: dict[str, int]
) -> None:
    picked = [q.category for q in sample_questions(make_questions(sizes, dataset), n)]
    assert list(Counter(picked).items()) == list(expected.items())  # counts and group order


def test_mmlu_uses_the_papers_subject_order() -> None:
    questions = make_questions(dict.fromkeys(["anatomy", "prehistory", "human sexuality"], 1))
    assert category_order(questions) == ["human sexuality", "prehistory", "anatomy"]


@pytest.mark.parametrize("n", [None, 30, 1000])
def test_n_none_or_too_large_gives_everything_grouped(n: int | None) -> None:
    questions = make_questions({"b": 10, "a": 20})
    picked = sample_questions(questions, n)
    assert sorted(q.id for q in picked) == sorted(q.id for q in questions)
    assert [q.category for q in picked] == ["a"] * 20 + ["b"] * 10


def test_n_zero_and_negative() -> None:
    questions = make_questions({"a": 3})
    assert sample_questions(questions, 0) == []
    assert sample_questions([], 5) == []
    with pytest.raises(ValueError, match="n must be"):
        sample_questions(questions, -1)
