"""Pure helpers of the scenario engine: checking a form answer against the form's fields, and
evaluating a branch rule on a value (docs/scenarios.md)."""

from __future__ import annotations

import math
import re
from typing import Any

from frontdesk.domain.config import ContactCenterConfig
from frontdesk.domain.errors import Invalid
from frontdesk.storage.records import SessionRecord

TEXT_FORM = ""  # the next typed text is the answer ({"text": ...})
RATING_RANGE = (0, 10)
# ``{name}`` in a say/end/fail/say_after/set_case text: filled in with the value of a field
TEMPLATE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[^{}\s]*)?)\}")

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?[0-9][0-9 ()./-]{2,31}")


def validate_answer(config: ContactCenterConfig, session: SessionRecord, form_name: str, data: Any) -> None:
    """Refuse (``Invalid``) an answer to a scenario form that misses a required field, names a
    choice the field does not offer, or has a value of the wrong kind. Extra fields are kept."""
    if not isinstance(data, dict):
        raise Invalid("form data must be an object")
    if form_name == TEXT_FORM:
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise Invalid("the answer to this form is the text typed next: 'data.text' is required")
        return
    tenant = config.tenants.get(session.tenant)
    form = tenant.forms.get(form_name) if tenant else None
    if form is None:  # RequestLocation, or a form removed by a reload: nothing to check against
        return
    for field in form.fields:
        label = field.label or field.name
        value = data.get(field.name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if field.required:
                raise Invalid(f"form '{form_name}': '{label}' ({field.name}) is required")
            continue
        if isinstance(value, (dict, list)):
            raise Invalid(f"form '{form_name}': '{field.name}' must be a single value")
        text = as_text(value)
        if field.type == "choice" and field.choices and text not in field.choices:
            raise Invalid(f"form '{form_name}': '{field.name}' must be one of {', '.join(field.choices)}")
        if field.type == "number" and as_number(value) is None:
            raise Invalid(f"form '{form_name}': '{field.name}' must be a number")
        if field.type == "rating":
            number = as_number(value)
            low, high = RATING_RANGE
            if number is None or number != int(number) or not low <= number <= high:
                raise Invalid(f"form '{form_name}': '{field.name}' must be a whole number from {low} to {high}")
        if field.type == "email" and not _EMAIL.fullmatch(text):
            raise Invalid(f"form '{form_name}': '{field.name}' must be an email address")
        if field.type == "phone" and not _PHONE.fullmatch(text):
            raise Invalid(f"form '{form_name}': '{field.name}' must be a phone number")


def rule_matches(value: Any, rule: dict[str, Any]) -> bool:
    """One rule's condition. A field without a value (absent, or an estimate nobody can give)
    compares false with everything; only ``present = false`` matches it."""
    present = value is not None and value != ""
    if "present" in rule:
        return present == bool(rule["present"])
    if not present:
        return False
    if "equals" in rule:
        return same_value(value, rule["equals"])
    if "not_equals" in rule:
        return not same_value(value, rule["not_equals"])
    if "in" in rule:
        options = rule["in"]
        return isinstance(options, list) and any(same_value(value, option) for option in options)
    if "above" in rule or "below" in rule:
        number = as_number(value)
        if number is None:
            return False
        if "above" in rule:
            bound = as_number(rule["above"])
            return bound is not None and number > bound
        bound = as_number(rule["below"])
        return bound is not None and number < bound
    return False


def same_value(value: Any, expected: Any) -> bool:
    """Equality across the types a form, a parameter and TOML produce: ``"3"`` equals ``3``,
    ``"true"`` equals ``true``; text compares exactly."""
    if isinstance(expected, bool):
        return value is expected if isinstance(value, bool) else as_text(value).lower() == str(expected).lower()
    if isinstance(expected, (int, float)):
        number = as_number(value)
        return number is not None and number == float(expected)
    return as_text(value) == str(expected)


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
