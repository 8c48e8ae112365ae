"""Whether LiveMind's letter step chooses: greedy and calibrated letters on the same questions.

For MMLU questions, LiveMind's final prompt with no inferences (the whole question as the new
input, the final instruction, the prefill "The answer is (") goes through the engine, and the
option letters' log-probabilities at the next token are read, as the session reads them. A
small model's letter odds lean the same way whatever the question, so its greedy letter is
nearly a constant. Calibrated: the letter that most exceeds the model's prior, measured on
the calibration questions of `voice_livemind/livemind/calibration.py` (none of them from
MMLU), what a letter asked after a free reply is; rotated: the options restated under each
rotation of the labels and the preferred text chosen, what the prefilled answer is. The
summary compares each with the greedy letter on the same questions (paired: a 95% bootstrap
interval and McNemar's test) with letter shares.

    python benchmarks/letter_bias.py --model smollm2-135m --n 200 --seed 42 \\
        --out benchmarks/results/letter_bias/seed42_smollm2-135m.json
    python benchmarks/letter_bias.py --report benchmarks/results/letter_bias/seed42_*.json \\
        --plot benchmarks/results/letter_bias/letter_shares.png
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from voice_livemind.bench.analyze.paired import paired_accuracy
from voice_livemind.bench.datasets import load_questions, sample_questions
from voice_livemind.livemind.calibration import (
    first_letter_logprobs,
    letter_prior,
    rotated_choice,
)
from voice_livemind.livemind.choices import calibrated_letter, letter_regex
from voice_livemind.livemind.config import SessionConfig
from voice_livemind.livemind.session import LETTER_SETTINGS, letter_prompt
from voice_livemind.llm import open_engine


async def run(args: argparse.Namespace) -> dict:
    engine = await open_engine(args.model)
    build = letter_prompt(SessionConfig())
    questions = sample_questions(load_questions(args.data), args.n, args.seed)
    rows = []
    try:
        priors = {}
        for i, q in enumerate(questions, 1):
            if q.letters not in priors:
                priors[q.letters] = await letter_prior(engine, build, q.letters, ")")
            settings = replace(LETTER_SETTINGS, max_tokens=1, regex=letter_regex(q.letters, ")"))
            text = q.question.rstrip() + "\n" + q.options_text
            logprobs, _ = await first_letter_logprobs(
                engine, build(text), settings, q.letters, f"letter-{i}"
            )
            rotated, _ = await rotated_choice(
                engine,
                build(text),
                list(zip(q.letters, q.options, strict=True)),
                settings,
                f"rotated-{i}",
            )
            rows.append(
                {
                    "id": q.id,
                    "answer": q.answer,
                    "probs": {k: round(math.exp(v), 4) for k, v in logprobs.items()},
                    "greedy": max(logprobs, key=logprobs.get),
                    "calibrated": calibrated_letter(logprobs, priors[q.letters], q.letters),
                    "rotated": rotated,
                }
            )
            print(f"\r{i}/{len(questions)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    finally:
        await engine.close()
    truth = [r["answer"] for r in rows]
    greedy = [r["greedy"] for r in rows]
    calibrated = [r["calibrated"] for r in rows]
    rotated = [r["rotated"] for r in rows]
    paired = paired_accuracy(
        [c == t for c, t in zip(calibrated, truth, strict=True)],
        [g == t for g, t in zip(greedy, truth, strict=True)],
    )
    paired_rotated = paired_accuracy(
        [c == t for c, t in zip(rotated, truth, strict=True)],
        [g == t for g, t in zip(greedy, truth, strict=True)],
    )
    summary = {
        "model": engine.name,
        "data": args.data,
        "seed": args.seed,
        "n": len(rows),
        "prior": {
            "".join(k): {letter: round(math.exp(v), 3) for letter, v in p.items()}
            for k, p in priors.items()
        },
        "letters": {
            "truth": dict(sorted(Counter(truth).items())),
            "greedy": dict(sorted(Counter(greedy).items())),
            "calibrated": dict(sorted(Counter(calibrated).items())),
            "rotated": dict(sorted(Counter(str(r) for r in rotated).items())),
        },
        "accuracy": {
            "greedy": paired.accuracy_b,
            "calibrated": paired.accuracy_a,
            "rotated": paired_rotated.accuracy_a,
        },
        "calibrated_minus_greedy": {
            "difference": paired.difference,
            "ci95": [paired.ci_low, paired.ci_high],
            "mcnemar_p": paired.mcnemar_p,
        },
        "rotated_minus_greedy": {
            "difference": paired_rotated.difference,
            "ci95": [paired_rotated.ci_low, paired_rotated.ci_high],
            "mcnemar_p": paired_rotated.mcnemar_p,
        },
    }
    return {"summary": summary, "questions": rows}


def report(files: list[str], plot: str | None) -> None:
    """One table row per run file and, with `plot`, each model's letter shares as bars."""
    runs = [json.loads(Path(f).read_text())["summary"] for f in files]
    print("| model | n | greedy | calibrated (prior) | rotated | calibrated - greedy [95% CI], p |"
          " rotated - greedy [95% CI], p | letters truth / greedy / calibrated / rotated"
          " (A B C D) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    kinds = ("truth", "greedy", "calibrated", "rotated")
    for r in runs:
        acc = r["accuracy"]
        shares = " / ".join(
            " ".join(str(r["letters"][kind].get(letter, 0)) for letter in "ABCD")
            for kind in kinds
            if kind in r["letters"]
        )
        cells = []
        for key in ("calibrated_minus_greedy", "rotated_minus_greedy"):
            diff = r.get(key)
            if diff is None:
                cells.append("-")
                continue
            low, high = diff["ci95"]
            cells.append(
                f"{100 * diff['difference']:+.1f} pt [{100 * low:+.0f}, {100 * high:+.0f}], "
                f"{diff['mcnemar_p']:.2f}"
            )
        rotated = f"{100 * acc['rotated']:.1f}%" if "rotated" in acc else "-"
        print(
            f"| {r['model']} | {r['n']} | {100 * acc['greedy']:.1f}% | "
            f"{100 * acc['calibrated']:.1f}% | {rotated} | {cells[0]} | {cells[1]} | {shares} |"
        )
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(runs), figsize=(4 * len(runs), 3.2), sharey=True)
        for ax, r in zip([axes] if len(runs) == 1 else axes, runs, strict=True):
            kinds = [k for k in ("truth", "greedy", "calibrated", "rotated") if k in r["letters"]]
            width = 0.8 / len(kinds)
            for i, kind in enumerate(kinds):
                counts = [r["letters"][kind].get(letter, 0) / r["n"] for letter in "ABCD"]
                offset = width * (i - (len(kinds) - 1) / 2)
                ax.bar([x + offset for x in range(4)], counts, width=width, label=kind)
            ax.set_xticks(range(4), list("ABCD"))
            acc = r["accuracy"]
            title = f"{r['model']}\ngreedy {100 * acc['greedy']:.0f}%, "
            title += f"calibrated {100 * acc['calibrated']:.0f}%"
            if "rotated" in acc:
                title += f", rotated {100 * acc['rotated']:.0f}%"
            ax.set_title(title, fontsize=9)
        axes_list = [axes] if len(runs) == 1 else list(axes)
        axes_list[0].set_ylabel("share of answers")
        axes_list[0].legend(fontsize=8)
        fig.suptitle("Letter chosen after 'The answer is (' (held-out MMLU)", fontsize=10)
        fig.tight_layout()
        fig.savefig(plot, dpi=110)


def main(args: argparse.Namespace) -> None:
    if args.report:
        report(args.report, args.plot)
        return
    result = asyncio.run(run(args))
    print(json.dumps(result["summary"], indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--data", default="../shared/data/mmlu_test.jsonl")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", help="where the run's JSON goes")
    parser.add_argument("--report", nargs="+", help="table (and --plot) of these run files")
    parser.add_argument("--plot", help="with --report: a PNG of the letter shares")
    args = parser.parse_args()
    if not args.report and not args.out:
        parser.error("--out is required unless --report is given")
    main(args)
