"""Number literals in a query, bounded before graphql-core converts them.

graphql-core reads an Int literal with `int()`, which raises past 4,300 digits (and is slow
well before); such a query would end as an internal error. A literal is refused here first.
"""

import re

from graphql import GraphQLError, GraphQLSyntaxError, Source, TokenKind
from graphql.language.lexer import Lexer

MAX_DIGITS = 19  # an Int is 32 bits; a Float of more digits than this gains nothing
CODE = "BAD_USER_INPUT"
# A number token is a run of these characters; a query with no run longer than MAX_DIGITS
# holds no long number, and is not lexed (lexing costs as much as the rest of a small query).
_LONG_RUN = re.compile(rf"[-+.0-9eE]{{{MAX_DIGITS + 1},}}")


def long_number(query: str) -> GraphQLError | None:
    """An error naming the first number literal of more than MAX_DIGITS digits, if any.

    Syntax errors are left for the parser to report.
    """
    if _LONG_RUN.search(query) is None:
        return None
    return lexed_long_number(query)


def lexed_long_number(query: str) -> GraphQLError | None:
    """`long_number`, by lexing the whole query."""
    lexer = Lexer(Source(query))
    try:
        token = lexer.advance()
        while token.kind != TokenKind.EOF:
            if token.kind in (TokenKind.INT, TokenKind.FLOAT) and len(token.value) > MAX_DIGITS:
                return GraphQLError(
                    f"a number in the query has more than {MAX_DIGITS} digits",
                    extensions={"code": CODE},
                )
            token = lexer.advance()
    except GraphQLSyntaxError:
        return None
    return None
