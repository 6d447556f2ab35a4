"""Configuration errors: every message is ``<field path>: <what is wrong>``, e.g.
``tenants[0].scenarios[0].steps[4].on_timeout: unknown step id 'nowhere'``.

pydantic reports errors as a location tuple and a type; ``messages_of`` turns them into that form,
in the words of docs/configuration.md rather than pydantic's. A validator that knows a more precise
field than the one it validates raises ``field_error`` with the rest of the path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from frontdesk.settings.vocabulary import STEP_SETTINGS

Loc = Sequence[str | int]
STEP_TAG = " step"  # the tag of a scenario step's model ends with this (see scenarios.py)
ERROR_TYPE = "frontdesk_config"


class ConfigError(ValueError):
    """A configuration that cannot be used. ``errors`` lists every problem found, each naming its
    field; ``str()`` is the first of them (plus how many more there are)."""

    def __init__(self, errors: str | Sequence[str]) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        more = len(self.errors) - 1
        super().__init__(self.errors[0] + (f" (and {more} more)" if more else ""))


def field_error(message: str, at: Loc = ()) -> PydanticCustomError:
    """An error of the field being validated, or of the field ``at`` below it."""
    return PydanticCustomError(ERROR_TYPE, "{message}", {"message": message, "at": tuple(at)})


def path(loc: Iterable[str | int], base: str = "") -> str:
    """``("tenants", 0, "name")`` → ``tenants[0].name`` (after ``base``)."""
    text = base
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def messages_of(error: ValidationError, base: str = "", names: dict[str, str] | None = None) -> list[str]:
    """Every error of ``error`` as ``<path>: <message>``; ``names`` renames a top-level field (the
    environment variable or flag an option came from)."""
    found = []
    for details in error.errors():
        loc, message = _translate(details)
        if names and loc and str(loc[0]) in names:
            found.append(f"{names[str(loc[0])]}: {message}")
        else:
            found.append(f"{path(loc, base) or 'document'}: {message}")
    return found


def type_name(value: Any) -> str:
    return type(value).__name__


def _translate(details: ErrorDetails) -> tuple[list[str | int], str]:
    loc: list[str | int] = []
    step, tagged = "", 0  # the action of the scenario step whose own key is at fault
    for part in details["loc"]:
        if isinstance(part, str) and part.endswith(STEP_TAG):
            step = part.removesuffix(STEP_TAG)  # a tag of the step's model, not a field
            tagged = len(loc)
        else:
            loc.append(part)
    if step and len(loc) != tagged + 1:
        step = ""
    kind, value, ctx = details["type"], details.get("input"), details.get("ctx") or {}
    if kind == ERROR_TYPE:
        loc.extend(ctx.get("at", ()))
        return loc, str(ctx["message"])
    if kind == "extra_forbidden" and step:
        allowed = ", ".join(STEP_SETTINGS[step])
        article = "an" if step[0] in "aeiou" else "a"
        return loc, f"not a setting of {article} {step} step (it takes {allowed})"
    return loc, _MESSAGES.get(kind, lambda v: details["msg"])(value)


def _expected(names: str) -> Any:
    def message(value: Any) -> str:
        if isinstance(value, bool) and names in ("int", "int or float"):
            return "expected a number, got a boolean"
        return f"expected {names}, got {type_name(value)}"
    return message


_MESSAGES = {
    "missing": lambda _: "required",
    "extra_forbidden": lambda _: "unknown setting",
    "int_type": _expected("int"),
    "float_type": _expected("int or float"),
    "string_type": _expected("str"),
    "bool_type": _expected("bool"),
    "list_type": _expected("list"),
    "dict_type": _expected("dict"),
    "model_type": _expected("a table"),
    "model_attributes_type": _expected("a table"),
    # text from the environment or a flag that does not convert
    "int_parsing": lambda v: f"expected an integer, got '{v}'",
    "float_parsing": lambda v: f"expected a number, got '{v}'",
    "bool_parsing": lambda v: f"expected true or false, got '{v}'",
}
