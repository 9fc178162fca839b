"""The cheap pre-check of long number literals decides as lexing the whole query does."""

from flrepo.graph.literals import MAX_DIGITS, lexed_long_number, long_number
from hypothesis import given, settings
from hypothesis import strategies as st

PIECES = st.sampled_from(
    ["1", "9", "0", ".", "e", "E", "-", "+", " ", "x", "_", '"', "#", "\n", "{", "}", "(", ")",
     ":", "$", "é", "\\"]
)  # fmt: skip
NUMBERS = st.integers(min_value=1, max_value=40).map(lambda n: "1" * n)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(PIECES, NUMBERS), max_size=40).map("".join))
def test_the_pre_check_agrees_with_the_lexer(text: str) -> None:
    query = "{ models(limit: " + text + ") { modelName } }"
    assert (long_number(query) is None) == (lexed_long_number(query) is None)


def test_a_long_number_is_still_found() -> None:
    for number in ["1" * (MAX_DIGITS + 1), "-" + "2" * MAX_DIGITS + ".5", "1e" + "0" * 30]:
        assert long_number(f"{{ models(limit: {number}) {{ modelName }} }}") is not None
    assert long_number("{ models(limit: " + "1" * MAX_DIGITS + ") { modelName } }") is None
