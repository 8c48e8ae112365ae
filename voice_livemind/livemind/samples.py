"""The built-in sample question (what `voice-livemind text` types when given none) and how
multiple-choice questions are asked to be answered."""

# Several sentences before the question, so LiveMind has something to think about while it
# is typed or spoken, and easy enough that the small offline default model can answer it.
SAMPLE_QUESTION = (
    "My grandmother keeps bees at the bottom of her garden. All summer the bees visit the "
    "flowers and carry nectar back to their hive. In the autumn she opens the hive and fills "
    "jars with something sweet and golden that she spreads on her toast. What do her bees "
    "make? Options: (A) milk (B) honey (C) cheese (D) bread"
)
SAMPLE_ANSWER = "B"
# The paper's answer format instruction: the benchmarks give it to both modes alike, and the
# sample question and demo get it too. Keep the wording: bench results were all made with it.
MULTIPLE_CHOICE_INSTRUCTION = (
    "Your answer should end with 'The answer is (X)' where X is the option letter."
)
# How LiveMind's final step opens its reply to a multiple-choice question (assistant prefill).
MULTIPLE_CHOICE_ANSWER_PREFIX = "The answer is ("
