"""The built-in sample question: what `voice-livemind text` types when given none."""

SAMPLE_QUESTION = (
    "A cyclist rides 12 km to the library at a steady 18 km per hour. She spends 40 minutes "
    "inside, then rides home by the same route at 24 km per hour. How long is she away from "
    "home in total? Options: (A) 1 hour 10 minutes (B) 1 hour 20 minutes "
    "(C) 1 hour 50 minutes (D) 2 hours"
)
SAMPLE_ANSWER = "C"
MULTIPLE_CHOICE_INSTRUCTION = "End your answer with 'The answer is (X)' where X is the letter."
# How LiveMind's final step opens its reply to a multiple-choice question (assistant prefill).
MULTIPLE_CHOICE_ANSWER_PREFIX = "The answer is ("
