"""Accuracy runs: several answer settings ("arms") on the same questions, one engine for all.

Each arm is a `bench` run (text replay, both modes or one) with its own results file under
--out, so every arm resumes where it stopped and `voice-livemind analyze` reads it. The arms
share one in-process engine, which batches their requests: on a 2-core CPU one engine start
(minutes) and one batch serve every arm. Latencies measured this way include the waiting for
the other arms' requests, and by default (`--timing keep-up`) each sentence is typed only once
the model has thought about the one before: use this for accuracy, and `bench --concurrency 1`
for latency.

    python benchmarks/accuracy.py --model DIR --n 100 --seed 7 --arms prefix,bare,weigh,cot \\
        --out benchmarks/results/accuracy/dev_seed7

Arms (LiveMind's final step; the baseline is chain-of-thought with `--max-answer-tokens`):
- prefix: LiveMind opens "The answer is (" and the constrained letter follows (no baseline);
- bare: the default: no prefill; told to reply with the answer alone (at most
  `CHOICE_REPLY_MAX_TOKENS`, 64), then the letter if it stated none;
- weigh: no prefill; told to weigh the options in a sentence or two (at most 64 tokens);
- pick: as bare, but told to name the correct option;
- bare-rp1: as bare, without the answer's repetition penalty (1.1 elsewhere: it also
  penalises the words of the options, which the answer has to repeat);
- streamed: as bare, but the options are typed as part of the question (`--options streamed`),
  so LiveMind thinks about them as they arrive: with the options given at the end, a question
  of one sentence (most of MMLU) reaches LiveMind only when the input ends, and its answer is
  a direct one with no inference before it;
- cot: the baseline alone, 256 tokens, then its letter if it stated none;
- cot512: the same with 512 tokens (a chain of thought cut at its limit ends in a guess);
- both: LiveMind with `prefix` and the baseline, alternating (the `bench --mode both` run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from voice_livemind.bench.run_settings import session_settings
from voice_livemind.bench.text_replay import BenchSettings, run_bench
from voice_livemind.cli.main import stopped_by_sigterm
from voice_livemind.livemind.config import AnswerStyle, Mode, SessionConfig
from voice_livemind.livemind.prompts import FINAL_INSTRUCTION, WEIGH_INSTRUCTION
from voice_livemind.livemind.samples import (
    MULTIPLE_CHOICE_ANSWER_PREFIX,
    MULTIPLE_CHOICE_INSTRUCTION,
)
from voice_livemind.llm.base import SamplingSettings
from voice_livemind.llm.vllm_engine import VllmEngine

# A final instruction that asks for the option itself: the "bare" one's "no list of the options,
# not an action" is often copied into the reply by small models.
PICK_INSTRUCTION = "[Input complete.] Now name the correct option."


@dataclass(frozen=True)
class Arm:
    modes: tuple[Mode, ...]
    answer_prefix: str
    max_answer_tokens: int
    final_instruction: str = FINAL_INSTRUCTION
    options: str = "at-end"  # how the options reach the model (`bench --options`)
    repetition_penalty: float = 1.1  # both modes' answers (`bench --repetition-penalty`)


ARMS = {
    "prefix": Arm((Mode.LIVEMIND,), MULTIPLE_CHOICE_ANSWER_PREFIX, 256),
    "bare": Arm((Mode.LIVEMIND,), "", 256),
    "pick": Arm((Mode.LIVEMIND,), "", 256, PICK_INSTRUCTION),
    "streamed": Arm((Mode.LIVEMIND,), "", 256, options="streamed"),
    "bare-rp1": Arm((Mode.LIVEMIND,), "", 256, repetition_penalty=1.0),
    "weigh": Arm((Mode.LIVEMIND,), "", 64, WEIGH_INSTRUCTION),
    "cot": Arm((Mode.BASELINE,), "", 256),
    "cot512": Arm((Mode.BASELINE,), "", 512),
    "both": Arm((Mode.LIVEMIND, Mode.BASELINE), MULTIPLE_CHOICE_ANSWER_PREFIX, 256),
}


async def main(args: argparse.Namespace) -> None:
    # The engine keeps its usual priority: nothing here competes with it for a user's speech.
    engine = await VllmEngine.start(args.model, max_model_len=2048, niceness=0)
    answer_engine = None
    if args.answer_model:
        answer_engine = await VllmEngine.start(args.answer_model, max_model_len=2048, niceness=0)
    out = Path(args.out)
    jobs = []
    for name in args.arms.split(","):
        arm = ARMS[name]
        config = SessionConfig(
            answer=SamplingSettings(
                max_tokens=arm.max_answer_tokens, repetition_penalty=arm.repetition_penalty
            ),
            answer_instruction=MULTIPLE_CHOICE_INSTRUCTION,
            answer_prefix=arm.answer_prefix,
            answer_style=AnswerStyle.TEXT,
            final_instruction=arm.final_instruction,
        )
        settings = BenchSettings(
            dataset=args.data,
            n=args.n,
            seed=args.seed,
            speed_cpm=240.0,
            timing=args.timing,
            options=arm.options,
            concurrency=args.concurrency,
            **session_settings(config, engine.name, (answer_engine or engine).name, 2048),
        )
        output = out / f"{name}.jsonl"
        bench = run_bench(
            engine,
            answer_engine,
            config,
            settings,
            list(arm.modes),
            output,
            concurrency=args.concurrency,
            data=args.data,
        )
        jobs.append(bench)
    try:
        await asyncio.gather(*jobs)
    finally:
        await engine.close()
        if answer_engine is not None:
            await answer_engine.close()


def arm_results(out: Path) -> list[tuple[str, str, list[dict]]]:
    """(arm, mode, records) for every arm file in `out` and every mode in it, in file order."""
    from voice_livemind.bench.analyze.runs import load_records

    results = []
    for path in sorted(out.glob("*.jsonl")):
        records = load_records(path) if path.stat().st_size else []
        for mode in dict.fromkeys(r["mode"] for r in records):
            results.append((path.stem, mode, [r for r in records if r["mode"] == mode]))
    return results


def correct(rows: list[dict]) -> int:
    return sum(1 for r in rows if r["correct"] and not r["error"])


def report(out: Path, against: str = "cot") -> str:
    """Markdown tables of the arms in `out`: each LiveMind arm paired with the `against` arm
    on the questions both answered, and letter shares against the truth."""
    from voice_livemind.bench.analyze.paired import compare_modes
    from voice_livemind.bench.analyze.plots_accuracy import wilson_interval

    results = arm_results(out)
    lines = [
        "| arm | mode | n | accuracy [95% CI] | reply hit limit | letter asked for |",
        "|---|---|---|---|---|---|",
    ]
    for name, mode, rows in results:
        right = correct(rows)
        low, high = wilson_interval(right, len(rows))
        limit = sum(1 for r in rows if r.get("finish_reason") == "length")
        asked = sum(1 for r in rows if r.get("letter_extracted"))
        lines.append(
            f"| {name} | {mode} | {len(rows)} | {right / len(rows):.0%} "
            f"[{low:.0%}, {high:.0%}] | {limit} | {asked} |"
        )
    base = next((rows for a, m, rows in results if a == against and m == "baseline"), [])
    if base:
        lines += [
            "",
            f"| LiveMind arm vs {against} | n | LiveMind | {against} | diff [95% CI] | McNemar p |",
            "|---|---|---|---|---|---|",
        ]
        for name, mode, mine in results:
            c = compare_modes(mine + base) if mode == "livemind" else None
            if c is None:
                continue
            lines.append(
                f"| {name} | {c['n']} | {c['accuracy_a']:.0%} | {c['accuracy_b']:.0%} | "
                f"{100 * c['difference']:+.0f} pt [{100 * c['ci_low']:+.0f}, "
                f"{100 * c['ci_high']:+.0f}] | {c['mcnemar_p']:.2f} |"
            )
    lines += ["", "| arm | mode | " + " | ".join("ABCD") + " | none |", "|---|---|" + "---|" * 5]
    for name, mode, rows in results:
        for label, key in (("truth", "answer"), (mode, "predicted")):
            shares = [sum(1 for r in rows if r[key] == x) / len(rows) for x in [*"ABCD", None]]
            cells = " | ".join(f"{share:.0%}" for share in shares)
            lines.append(f"| {name} | {label} | {cells} |")
    return "\n".join(lines)


def plot(out: Path, path: Path, chance: float = 0.25) -> Path:
    """Accuracy of every arm and mode in `out`, with its 95% interval, against chance."""
    from matplotlib.ticker import PercentFormatter

    from voice_livemind.bench.analyze.plots import figure
    from voice_livemind.bench.analyze.plots_accuracy import wilson_interval

    bars = []
    for name, mode, rows in arm_results(out):
        right = correct(rows)
        bars.append((f"{name}\n{mode}, n={len(rows)}", right / len(rows), right, len(rows)))
    fig = figure()
    ax = fig.add_subplot()
    for i, (label, accuracy, right, n) in enumerate(bars):
        low, high = wilson_interval(right, n)
        colour = "tab:gray" if "baseline" in label else "tab:blue"
        ax.bar(i, accuracy, color=colour)
        ax.errorbar(i, accuracy, yerr=[[accuracy - low], [high - accuracy]], color="k", capsize=4)
    ax.axhline(chance, color="tab:red", linestyle="--", label=f"chance ({chance:.0%})")
    ax.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
    ax.set_ylabel("accuracy (95% Wilson interval)")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_title(out.name)
    ax.legend()
    fig.savefig(path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model directory (not needed with --report)")
    parser.add_argument("--answer-model", default=None, help="collaborative: answers only")
    parser.add_argument("--data", default="../shared/data/mmlu_test.jsonl")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8, help="questions at once, per arm")
    parser.add_argument("--arms", default="both")
    parser.add_argument(
        "--timing",
        choices=["keep-up", "simulated"],
        default="keep-up",
        help="keep-up: each sentence once the model has thought about the one before (accuracy "
        "on a loaded machine); simulated: the paper's clock",
    )
    parser.add_argument("--out", required=True, help="folder for one results file per arm")
    parser.add_argument("--report", action="store_true", help="print the tables of --out")
    parser.add_argument("--against", default="cot", help="the baseline arm the report pairs with")
    parser.add_argument("--plot", type=Path, help="with --report: also draw the arms to this PNG")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cli = parser.parse_args()
    if cli.report:
        print(report(Path(cli.out), cli.against))
        if cli.plot:
            print(f"wrote {plot(Path(cli.out), cli.plot)}")
    else:
        asyncio.run(stopped_by_sigterm(main(cli)))
