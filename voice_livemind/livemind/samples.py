"""The built-in sample question (what `voice-livemind text` types when given none) and how
multiple-choice questions are asked to be answered."""

SAMPLE_QUESTION = (
    "A cyclist rides 12 km to the library at a steady 18 km per hour. She spends 40 minutes "
    "inside, then rides home by the same route at 24 km per hour. How long is she away from "
    "home in total? Options: (A) 1 hour 10 minutes (B) 1 hour 20 minutes "
    "(C) 1 hour 50 minutes (D) 2 hours"
)
SAMPLE_ANSWER = "C"
# The paper's answer format instruction: the benchmarks give it to both modes alike, and the
# sample question and demo get it too. Keep the wording: bench results were all made with it.
MULTIPLE_CHOICE_INSTRUCTION = (
    "Your answer should end with 'The answer is (X)' where X is the option letter."
)
# How LiveMind's final step opens its reply to a multiple-choice question (assistant prefill).
MULTIPLE_CHOICE_ANSWER_PREFIX = "The answer is ("
