"""Letters that are choices: the model's lean towards one option letter divided out.

After "The answer is (" a small model's letter odds lean the same way whatever the question
(Qwen2.5-Coder-0.5B: A most likely on 81 of 100 questions, 28% of them A), and greedy
decoding turns that lean into a constant answer. The lean is a property of the model and the
prompt, not of the question, so it can be measured once and divided out: the letter chosen is
the one whose log-probability most exceeds its prior (`choices.calibrated_letter`).

The prior is measured as PriDe does (Zheng et al. 2024, "Large language models are not robust
multiple choice selectors"): a few questions, each asked with its option texts shifted through
every position, so that each text sits under each letter once; what remains of the letter
odds, averaged, is the prior of the labels themselves. The lean shows where the model does not
know the answer, so the questions below are exam-like questions about things that do not exist
(written for this: none is from a benchmark, none has an answer). The lean also depends on how
the options are written: SmolLM2 leans to C on "(A): x" lines and to A and D on a transcript's
"Option A: x.", so the prior is measured in the question's own style (`choices.OptionStyle`).
Content-free questions ("N/A" options) and easy ones ("Which of these animals can fly?") gave
priors unlike the lean these models show on MMLU (benchmarks/RESULTS.md, "Letter prior").

One prior per engine, label set, option style and prompt shape, measured on first use (a few dozen
one-token requests, batched by the engine) and kept for the process.

The lean also depends on what the prompt holds before the question. In the spoken path, with
LiveMind's inferences in the prompt, SmolLM2 answered A to every question even after the
measured prior was divided out. So where the answer is the letter alone (after the prefill),
the question's own options are rotated instead (`rotated_choice`): k one-token requests on
one cached prefix, and the answer no longer depends on which letter an option sits under.
The prior remains for the letter asked after a free reply, whose text refers to the letters.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from ..llm import ChatEngine, Message, SamplingSettings, Usage
from .choices import OptionStyle, letter_regex

# vLLM's default ceiling on reported log-probabilities; the letters hold nearly all the mass
# after the prefill, so every label is among them in practice.
LETTER_TOP_LOGPROBS = 20
# Prompts to measure a prior with: at most this many, whatever the number of labels.
PRIOR_PROMPTS = 40

_CALIBRATION_QUESTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "According to the 1873 survey by the Halvern commission, which factor most limited "
        "grain exports from the Tessaly valley?",
        ("the cost of river transport", "a shortage of seasonal labour",
         "import duties levied by neighbouring provinces",
         "soil exhaustion after repeated wheat crops",
         "the collapse of the regional bank", "a series of unusually wet harvests",
         "competition from coastal mills", "the closure of the mountain pass",
         "a ban on exports during the war", "disputes over land tenure"),
    ),
    (
        "In Merrow's theory of institutional drift, which condition is necessary for a rule to "
        "change without being formally amended?",
        ("a shift in who enforces it", "a decline in public trust", "a new written constitution",
         "a change in the electoral system", "pressure from foreign governments",
         "the retirement of its drafters", "a rise in litigation", "an economic recession",
         "the growth of the civil service", "a period of one-party rule"),
    ),
    (
        "Which enzyme catalyses the final step in the synthesis of veltrasine in Kestrel "
        "bacteria?",
        ("a methyltransferase", "a kinase", "a dehydrogenase", "a ligase", "an isomerase",
         "a hydrolase", "a decarboxylase", "an oxidase", "a reductase", "a synthase"),
    ),
    (
        "Under the Orland Commercial Code, which case established that notice given within "
        "forty days is 'within a reasonable time'?",
        ("Barrow v. Lisle", "Henley v. Crane", "Mercer v. Dunmore", "Pryce v. Hallam",
         "Astley v. Ford", "Whitcombe v. Rae", "Gale v. Norwood", "Tennant v. Brook",
         "Ellery v. Vance", "Osgood v. Marsh"),
    ),
    (
        "What is the value of the Dormand-Lisk constant to three significant figures?",
        ("1.47", "2.08", "0.613", "3.92", "1.15", "0.882", "2.71", "4.36", "0.295", "1.83"),
    ),
    (
        "Which philosopher of the Aldane school argued that perception precedes memory in every "
        "act of judgement?",
        ("Corvin", "Abelard of Tane", "Marisse", "Heulen", "Ostrava", "Pellin", "Drummond",
         "Iskander Vey", "Laurent Ghis", "Tobiah Renn"),
    ),
    (
        "In the Pellham model of coastal erosion, which variable carries the largest "
        "coefficient?",
        ("wave height", "tidal range", "rock hardness", "beach slope", "storm frequency",
         "sediment supply", "vegetation cover", "sea level rise", "wind direction",
         "groundwater flow"),
    ),
    (
        "Which of the following best describes the function of the tarsal gland in the Ebrian "
        "lizard?",
        ("it marks territory", "it stores water", "it regulates salt", "it attracts mates",
         "it deters predators", "it aids digestion", "it cools the blood", "it senses vibration",
         "it produces venom", "it repairs skin"),
    ),
)  # fmt: skip

_priors: dict[tuple[str, tuple[str, ...], OptionStyle, str], dict[str, float]] = {}


def label_logprobs(top: Mapping[str, float], labels: Sequence[str]) -> dict[str, float]:
    """The labels' log-probabilities among one position's top tokens ("A", " A" and "a" all
    count for "A"), renormalised over the labels found. Labels not among them are left out."""
    mass: dict[str, float] = {}
    for token, logprob in top.items():
        label = token.strip().upper()
        if label in labels:
            mass[label] = mass.get(label, 0.0) + math.exp(logprob)
    total = sum(mass.values())
    return {label: math.log(p / total) for label, p in mass.items() if p > 0}


def calibration_prompts(
    labels: Sequence[str], style: OptionStyle = OptionStyle.PARENTHESES
) -> list[str]:
    """Questions with their options under `labels`, written in `style`, each option text
    shifted through every label."""
    k = len(labels)
    questions = _CALIBRATION_QUESTIONS[: max(1, PRIOR_PROMPTS // k)]
    prompts = []
    for question, texts in questions:
        texts = texts[:k]
        for shift in range(k):
            shifted = texts[shift:] + texts[:shift]
            separator = " " if style is OptionStyle.SPOKEN else "\n"
            prompts.append(question + separator + style.render(labels, shifted))
    return prompts


async def letter_prior(
    engine: ChatEngine,
    build: Callable[[str], list[Message]],
    labels: Sequence[str],
    closing: str = "",
    style: OptionStyle = OptionStyle.PARENTHESES,
) -> dict[str, float]:
    """The engine's log-prior over `labels` for prompts made by `build` (question text ->
    messages ending in the answer prefill) with options written in `style`; measured once per
    engine, labels, style and prompt shape. Empty when the engine reports no log-probabilities
    (the caller keeps the sampled letter)."""
    labels = tuple(labels)
    shape = json.dumps(build("{question}"))
    key = (engine.name, labels, style, shape)
    if key in _priors:
        return _priors[key]
    settings = SamplingSettings(
        max_tokens=1, regex=letter_regex(labels, closing), top_logprobs=LETTER_TOP_LOGPROBS
    )
    batch = uuid.uuid4().hex[:8]
    odds = await asyncio.gather(
        *(
            first_letter_logprobs(engine, build(text), settings, labels, f"prior-{batch}-{i}")
            for i, text in enumerate(calibration_prompts(labels, style))
        )
    )
    measured = [o for o, _ in odds if len(o) == len(labels)]
    if not measured:
        return {}
    prior = {
        label: math.log(sum(math.exp(o[label]) for o in measured) / len(measured))
        for label in labels
    }
    _priors[key] = prior
    return prior


async def first_letter_logprobs(
    engine: ChatEngine,
    messages: list[Message],
    settings: SamplingSettings,
    labels: Sequence[str],
    request_id: str,
) -> tuple[dict[str, float], Usage]:
    """The labels' log-probabilities at the first generated position of one request, and the
    request's usage."""
    settings = replace(settings, top_logprobs=settings.top_logprobs or LETTER_TOP_LOGPROBS)
    first: dict[str, float] = {}
    usage = Usage()
    async for chunk in engine.stream(messages, settings, request_id):
        if chunk.top_logprobs and not first:
            first = label_logprobs(chunk.top_logprobs[0], labels)
        usage = chunk.usage or usage
    return first, usage


async def rotated_choice(
    engine: ChatEngine,
    messages: list[Message],
    options: Sequence[tuple[str, str]],
    settings: SamplingSettings,
    request_id: str,
) -> tuple[str | None, list[Usage]]:
    """The option the model prefers whatever letter it sits under, for `messages` ending in
    the answer prefill. The options (label, text) are restated at the end of the question,
    once per rotation (each text under each label once, as PriDe measures its prior), the
    rotations asked at once (they share the prompt's cached prefix), and the text with the
    highest mean probability over the rotations wins; its own label is returned. A lean
    towards one letter then weighs on every text alike. None when no letter was reported."""
    labels = [label for label, _ in options]
    texts = [text for _, text in options]
    k = len(options)
    *head, question, prefill = messages

    def rotated(shift: int) -> list[Message]:
        restated = OptionStyle.PARENTHESES.render(labels, texts[shift:] + texts[:shift])
        content = f"{question['content']}\n\n{restated.rstrip()}"
        return [*head, {"role": question["role"], "content": content}, prefill]

    asked = await asyncio.gather(
        *(
            first_letter_logprobs(engine, rotated(r), settings, labels, f"{request_id}-r{r}")
            for r in range(k)
        )
    )
    mean = [0.0] * k  # per option text, in the question's order
    for shift, (odds, _) in enumerate(asked):
        for i, label in enumerate(labels):
            if label in odds:
                mean[(i + shift) % k] += math.exp(odds[label]) / k
    usages = [usage for _, usage in asked]
    if not any(mean):
        return None, usages
    return labels[max(range(k), key=lambda i: (mean[i], -i))], usages
