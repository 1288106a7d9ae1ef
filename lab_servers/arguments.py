"""What the lab's public functions say when a learner passes the wrong thing: the rule or the
valid choices, in words, instead of an AttributeError from deep inside.

    if not isinstance(record, StepRecord):
        raise wrong_type("show_step takes one step record, such as client.records[0]", record)
    method = one_of("registration method", method, ("auto", "cimd", "dcr"))

Only the public boundary checks (what a notebook cell calls); internal functions trust it.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Sequence
from typing import Any, TypeGuard, TypeVar

Choice = TypeVar("Choice", bound=str)
Kind = TypeVar("Kind")


def described(value: object) -> str:
    """What `value` is, as an error message names it: `None`, `str 'abc'`, `a list of 7`, `a
    LabClient`; a coroutine or an uncalled method says what was probably forgotten."""
    if value is None:
        return "None"
    if inspect.iscoroutine(value):
        return f"a coroutine ({value.__qualname__}): did you forget `await`?"
    if inspect.ismethod(value) or inspect.isfunction(value):
        return f"the function {value.__name__} itself, not called: did you forget the ()?"
    if isinstance(value, bool | int | float | str | bytes):
        text = int_text(value) if isinstance(value, int) else repr(value)
        return f"{type(value).__name__} {text if len(text) <= 40 else text[:39] + '…'}"
    if isinstance(value, list | tuple | set | frozenset | dict):
        return f"a {type(value).__name__} of {len(value)}"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def int_text(value: int) -> str:
    """`value` written out, or its size when Python would refuse to (past 4,300 digits it raises
    ValueError, "Exceeds the limit … for integer string conversion", from inside a lab message)."""
    if value.bit_length() <= 13_000:  # about 3,900 digits
        return repr(value)
    return f"a number of about {int(value.bit_length() * 0.30103):,} digits"


def wrong_type(expected: str, value: object) -> TypeError:
    """`expected` says what the function takes (with an example); the error adds what it got.
    A coroutine passed by mistake is closed, so Python does not also warn it was never awaited."""
    message = f"{expected}; got {described(value)}"
    if inspect.iscoroutine(value):
        value.close()
    return TypeError(message)


def expect(kind: type[Kind], value: object, expected: str) -> Kind:
    """`value` if it is a `kind`, else the TypeError `wrong_type(expected, value)`."""
    if not isinstance(value, kind):
        raise wrong_type(expected, value)
    return value


def flag(what: str, value: object) -> bool:
    """`value` if it is True or False: a string such as 'no' is truthy, and meant the opposite."""
    return expect(bool, value, f"{what} takes True or False")


def is_count(value: object, minimum: int = 0) -> TypeGuard[int]:
    """A whole number of at least `minimum`: an int, and not a bool (Python's True is 1)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def is_string_list(value: object) -> TypeGuard[list[str]]:
    """A list whose every item is a string: a JSON array of strings, as RFC 8414 §2 and RFC 9728 §2
    define every `*_supported` member and RFC 7591 §2 `redirect_uris` and `grant_types`."""
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def counted(name: str, value: object, example: int) -> int:
    """`value` if it is a whole number of at least 1: a count of clients, runs, samples or
    registrations. Zero would leave no point to show (an IndexError), zero samples a
    ZeroDivisionError; -1 registrations ran none and reported "-1 registrations"."""
    if not is_count(value, 1):
        raise wrong_type(f"{name} is a whole number of at least 1, such as {example}", value)
    return value


def one_of(what: str, value: Any, choices: Iterable[Choice]) -> Choice:
    """`value` if it is one of `choices`, else a ValueError naming them (and the likely one); a
    TypeError if it is no string at all (`lab.connect(5)`)."""
    options = list(choices)
    if isinstance(value, str) and value in options:
        return options[options.index(value)]
    listed = ", ".join(repr(option) for option in options)
    if not isinstance(value, str):  # the wrong kind of thing, not a word mistyped
        raise wrong_type(f"the {what} is a string, one of {listed}", value)
    guess = likely(value, options)
    hint = f" (did you mean {guess!r}?)" if guess else ""
    raise ValueError(f"unknown {what} {value!r}{hint}; choose one of {listed}")


def likely(value: object, options: Sequence[str]) -> str | None:
    """The option a mistyped `value` most likely meant (case, spaces, `_` for `-`, a typo), if any."""
    if not isinstance(value, str):
        return None
    squeezed = value.strip().lower().replace("_", "-")
    return squeezed if squeezed in options else next(iter(difflib.get_close_matches(squeezed, options, 1)), None)
