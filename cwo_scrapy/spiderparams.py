"""Spider arguments declared once: types, defaults and help text in pydantic models.

The spiders name their model through ``scrapy_spider_metadata.Args[Model]``, so tools that read
spider metadata (``scrapy_spider_metadata.get_spider_metadata(SpiderClass)`` -> JSON Schema
under ``param_schema``) see the same declaration that validates ``-a NAME=VALUE`` here, with the
one-line messages of :mod:`cwo_scrapy.spiderargs`. ``scrapy crawl SPIDER -a help=1`` prints it.

Arguments whose name starts with ``_`` are Scrapyd's own (``_job``, ``_version``): they are
accepted and ignored, never validated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from cwo_scrapy.spiderargs import (
    SpiderArgumentError,
    check_known,
    parse_choice,
    parse_limit,
    parse_text,
    parse_year,
)

HELP_ARGUMENT = "help"


def _text(name: str) -> Callable[[Any], str]:
    return lambda value: parse_text({name: value}, name)  # type: ignore[return-value]


def _choice(name: str, choices: tuple[str, ...]) -> Callable[[Any], str]:
    return lambda value: parse_choice({name: value}, name, choices)  # type: ignore[return-value]


class ScopeParams(BaseModel):
    """Scope arguments of both spiders (any subset; none = the whole catalogue)."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    year: Annotated[
        int | None,
        BeforeValidator(parse_year),
        Field(
            description="one model year, four digits (e.g. 2024); omitted: every year",
            examples=[2024],
        ),
    ] = None
    make: Annotated[
        str | None,
        BeforeValidator(_text("make")),
        Field(description="one make as the site lists it, any case (e.g. Toyota); omitted: all"),
    ] = None
    model: Annotated[
        str | None,
        BeforeValidator(_text("model")),
        Field(description="one model as the site lists it, any case (e.g. Tacoma); omitted: all"),
    ] = None
    limit: Annotated[
        int | None,
        BeforeValidator(parse_limit),
        Field(ge=1, description="at most this many vehicles; omitted: no limit"),
    ] = None


class FitmentParams(ScopeParams):
    """``scrapy crawl fitment`` arguments."""


AXES = ("suspension", "modification", "rubbing")


class WheelSizeParams(ScopeParams):
    """``scrapy crawl wheel_size`` arguments."""

    combos: Annotated[
        Literal["default", "all"],
        BeforeValidator(_choice("combos", ("default", "all"))),
        Field(
            description=(
                "default: the stock choice of each vehicle type; all: every "
                "suspension x modification x rubbing combination"
            )
        ),
    ] = "default"
    suspension: Annotated[
        str | None,
        BeforeValidator(_text("suspension")),
        Field(description="only this suspension, as the site lists it; omitted: combos decides"),
    ] = None
    modification: Annotated[
        str | None,
        BeforeValidator(_text("modification")),
        Field(description="fix the modification (trimming) to this value; omitted: combos decides"),
    ] = None
    rubbing: Annotated[
        str | None,
        BeforeValidator(_text("rubbing")),
        Field(description="fix the rubbing tolerance to this value; omitted: combos decides"),
    ] = None


def own_arguments(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments meant for the spider: Scrapyd's ``_job``, ``_version``, ... dropped."""
    return {k: v for k, v in kwargs.items() if not str(k).startswith("_")}


def validate(model: type[BaseModel], kwargs: Mapping[str, Any], spider: str) -> BaseModel:
    """Validated arguments; raises :class:`SpiderArgumentError` with one line."""
    kwargs = own_arguments(kwargs)
    check_known(kwargs, model.model_fields, spider)
    try:
        return model.model_validate(kwargs)
    except ValidationError as exc:
        raise SpiderArgumentError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    """The first error as ``name=value: reason`` (our validators' messages kept as they are)."""
    error = exc.errors()[0]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, SpiderArgumentError):
        return str(cause)
    name = ".".join(str(p) for p in error.get("loc", ())) or "argument"
    return f"{name}={error.get('input')!r}: {error.get('msg', 'invalid value')}"


def describe(model: type[BaseModel], spider: str) -> str:
    """The argument list ``-a help=1`` prints: name, type, default, help text."""
    schema = model.model_json_schema()
    rows: list[tuple[str, str, str]] = []
    for name, field in model.model_fields.items():
        spec = schema["properties"].get(name, {})
        kind = _kind(spec)
        default = "" if field.default is None else f" (default: {field.default})"
        rows.append((f"{name}={kind}", field.description or "", default))
    width = max(len(r[0]) for r in rows)
    lines = [f"Arguments of spider {spider!r} (-a NAME=VALUE, any subset):"]
    lines += [f"  {a.ljust(width)}  {b}{c}" for a, b, c in rows]
    lines.append("Arguments starting with '_' (Scrapyd's _job, _version) are ignored.")
    return "\n".join(lines)


def _kind(spec: dict[str, Any]) -> str:
    options = spec.get("anyOf") or [spec]
    for option in options:
        if "enum" in option:
            return "|".join(str(v) for v in option["enum"])
        if option.get("type") == "integer":
            return "N"
        if option.get("type") == "string":
            return "TEXT"
    return "VALUE"
