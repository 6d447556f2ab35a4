"""The building blocks of the configuration models: a strict base model that refuses unknown keys,
and field types whose errors read like docs/configuration.md (``must be between 1 and 10``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from frontdesk.settings.errors import field_error, type_name
from frontdesk.settings.vocabulary import SKILL_LEVELS


class Model(BaseModel):
    """A table of the configuration: strict types (no ``"3"`` for 3, no ``true`` for 1), unknown
    keys refused, names as written in the file."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=False,
                              validate_default=False, hide_input_in_errors=True)


@dataclass(frozen=True, slots=True)
class Between:
    """``Annotated[int, Between(low, high)]``: an integer in [low, high] (or exactly ``also``)."""

    low: int
    high: int
    also: int | None = None
    message: str = ""

    def check(self, value: int) -> int:
        if not self.low <= value <= self.high and value != self.also:
            extra = f" (or {self.also})" if self.also is not None else ""
            raise field_error(self.message or f"must be between {self.low} and {self.high}{extra}")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        found = handler(schema)
        if self.also is None:
            found.update(minimum=self.low, maximum=self.high)
        else:
            found["anyOf"] = [{"const": self.also}, {"minimum": self.low, "maximum": self.high}]
        return found


@dataclass(frozen=True, slots=True)
class OneOf:
    """``Annotated[str, OneOf(...)]``: one of the values (after ``transform``, e.g. ``str.upper``)."""

    values: tuple[str, ...]
    transform: Callable[[str], str] | None = None

    def check(self, value: str) -> str:
        value = self.transform(value) if self.transform else value
        if value not in self.values:
            raise field_error(f"must be one of {', '.join(self.values)}")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        found = handler(schema)
        found["enum"] = list(self.values)
        return found


def _not_empty(value: str) -> str:
    if not value:
        raise field_error("must not be empty")
    return value


NonEmpty = Annotated[str, AfterValidator(_not_empty), Field(json_schema_extra={"minLength": 1})]
NotNegative = Annotated[int, Between(0, 2**31 - 1, message="must not be negative")]


def _skill_names(levels: dict[str, int]) -> dict[str, int]:
    if "" in levels:
        raise field_error("a skill needs a name", [""])
    return levels


SkillLevel = Annotated[int, Between(*SKILL_LEVELS, message=f"a skill level must be between {SKILL_LEVELS[0]} and "
                                                            f"{SKILL_LEVELS[1]}")]
Skills = Annotated[dict[str, SkillLevel], AfterValidator(_skill_names)]  # skill name → level


def _kinds(*kinds: type, names: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, bool) and bool not in kinds:
            raise field_error("expected a number, got a boolean")
        if not isinstance(value, kinds):
            raise field_error(f"expected {names}, got {type_name(value)}")
        return value
    return check


# values kept exactly as written (a branch rule compares ``3`` with ``"3"``: docs/scenarios.md)
Number = Annotated[Any, BeforeValidator(_kinds(int, float, names="int or float")),
                   WithJsonSchema({"type": "number"})]
Scalar = Annotated[Any, BeforeValidator(_kinds(str, int, float, bool, names="str or int or float or bool")),
                   WithJsonSchema({"type": ["string", "number", "boolean"]})]
TextOrNumber = Annotated[Any, BeforeValidator(_kinds(str, int, float, names="str or int or float")),
                         WithJsonSchema({"type": ["string", "number"]})]
