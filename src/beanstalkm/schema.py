"""A JSON Schema checker compiled once, for the envelope's schema (``message.json``).

Validating an envelope with a general JSON Schema library costs hundreds of
microseconds a message, and depends on which library happens to be installed. The
envelope's schema uses a handful of keywords, so it is compiled here, at import, into
Python source that checks exactly those, with the meaning JSON Schema (draft 7) gives
them: ``type``, ``const``, ``enum``, ``pattern``, ``required``, ``properties``,
``additionalProperties``, ``items``, ``oneOf``, ``anyOf``. A schema using any other
keyword is refused when it is compiled, so the checker never checks less than the
schema says. A valid envelope costs a few microseconds; the reason for an invalid one
is worked out only when there is one. Pure, and no dependency.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = ["Checker", "compile_schema"]

#: Checks a value; returns None when it is valid, else a readable reason.
Checker = Callable[[Any], "str | None"]

# Keywords that describe without constraining.
_ANNOTATIONS: Final = frozenset({"$schema", "$id", "$comment", "title", "description", "default"})
_SUPPORTED: Final = frozenset(
    {
        "type",
        "const",
        "enum",
        "pattern",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "oneOf",
        "anyOf",
    }
)

# Each JSON type as a test of ``v`` (bool is not a number in JSON; 1.0 is an integer).
_TYPE_TESTS: Final = {
    "object": "type({v}) is dict",
    "array": "type({v}) is list",
    "string": "type({v}) is str",
    "number": "(type({v}) is int or type({v}) is float)",
    "integer": "(type({v}) is int or (type({v}) is float and {v}.is_integer()))",
    "boolean": "type({v}) is bool",
    "null": "{v} is None",
}


def _same(a: Any, b: Any) -> bool:
    """JSON equality: True is not 1, 1 is 1.0, containers compare item by item."""
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    numbers = (int, float)
    return (type(a) is type(b) or (type(a) in numbers and type(b) in numbers)) and a == b


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# A failure is (path, message), the path a tuple of keys and indexes from the value
# checked.
_Failure = tuple[tuple[Any, ...], str]


def _deepest(path: tuple[Any, ...], value: Any, failures: list[_Failure | None]) -> _Failure:
    """Why a value at ``path`` matches none of its alternative forms: the failure of
    the form that got furthest, or, when none got past the value itself, all of them."""
    found = [failure for failure in failures if failure is not None]
    deepest = max(found, key=lambda failure: len(failure[0]))
    if deepest[0]:
        return (*path, *deepest[0]), deepest[1]
    reasons = "; ".join(reason for _, reason in found)
    return path, f"{_shown(value)} matches none of its forms ({reasons})"


class _Compiler:
    """Writes the checker as Python source: checks inline, with their paths known.

    Each check is written for a variable holding the value and the expression of its
    path; only ``oneOf``/``anyOf`` forms, which must be tried one by one, become
    functions of their own.
    """

    def __init__(self) -> None:
        self.functions: list[str] = []
        self.constants: dict[str, Any] = {
            "_same": _same,
            "_shown": _shown,
            "_deepest": _deepest,
            "_MISSING": object(),
        }
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def constant(self, value: Any) -> str:
        name = self.name("_c")
        self.constants[name] = value
        return name

    def function(self, schema: Any) -> str:
        """Write a function ``f(v) -> failure or None`` checking ``schema``; its name."""
        name = self.name("_f")
        body = self.check(schema, "v", [])
        self.functions.append("\n".join([f"def {name}(v):", *_indent(body), "    return None"]))
        return name

    def check(self, schema: Any, var: str, parts: list[str]) -> list[str]:
        """Lines that return ``(path, reason)`` when ``var`` does not match ``schema``;
        ``parts`` are the expressions of its path's parts."""
        path = "(" + "".join(f"{part}, " for part in parts) + ")"
        if schema is True:
            return []
        if schema is False:
            return [f"return ({path}, 'nothing is allowed here')"]
        if not isinstance(schema, dict):
            raise ValueError(f"not a schema: {schema!r}")
        for keyword in schema:
            if keyword not in _ANNOTATIONS and keyword not in _SUPPORTED:
                raise ValueError(f"schema keyword {keyword!r} is not supported by this checker")
        out: list[str] = []
        if "type" in schema:
            types = schema["type"]
            names = [types] if isinstance(types, str) else list(types)
            test = " or ".join(_TYPE_TESTS[n].format(v=var) for n in names)
            reason = " is not of type " + " or ".join(repr(n) for n in names)
            out += [f"if not ({test}):", f"    return ({path}, _shown({var}) + {reason!r})"]
        if "const" in schema:
            expected = schema["const"]
            c = self.constant(expected)
            if type(expected) is str:
                test = f"{var} != {c} or type({var}) is not str"
            else:
                test = f"not _same({var}, {c})"
            reason = repr(expected) + " was expected, got "
            out += [f"if {test}:", f"    return ({path}, {reason!r} + _shown({var}))"]
        if "enum" in schema:
            c = self.constant(list(schema["enum"]))
            reason = f" is not one of {schema['enum']!r}"
            out += [
                f"if not any(_same({var}, o) for o in {c}):",
                f"    return ({path}, _shown({var}) + {reason!r})",
            ]
        if "pattern" in schema:
            pattern = schema["pattern"]
            # JSON Schema patterns are not anchored: search, not match.
            c = self.constant(re.compile(pattern).search)
            reason = f" does not match {pattern!r}"
            out += [
                f"if type({var}) is str and {c}({var}) is None:",
                f"    return ({path}, _shown({var}) + {reason!r})",
            ]
        out += self._object(schema, var, parts)
        if "items" in schema:
            items = schema["items"]
            if isinstance(items, list):
                raise ValueError("tuple 'items' is not supported by this checker")
            index, item = self.name("i"), self.name("x")
            inner = self.check(items, item, [*parts, index])
            if inner:
                out += [
                    f"if type({var}) is list:",
                    f"    for {index}, {item} in enumerate({var}):",
                    *_indent(inner, 2),
                ]
        for keyword in ("oneOf", "anyOf"):
            if keyword in schema:
                forms = [self.function(form) for form in schema[keyword]]
                failures = self.name("r")
                out += [
                    f"{failures} = [{', '.join(f'{form}({var})' for form in forms)}]",
                    f"if {failures}.count(None) == 0:",
                    f"    return _deepest({path}, {var}, {failures})",
                ]
                if keyword == "oneOf":
                    reason = " matches more than one of its forms"
                    out += [
                        f"if {failures}.count(None) > 1:",
                        f"    return ({path}, _shown({var}) + {reason!r})",
                    ]
        return out

    def _object(self, schema: dict[str, Any], var: str, parts: list[str]) -> list[str]:
        path = "(" + "".join(f"{part}, " for part in parts) + ")"
        required = schema.get("required", [])
        properties = schema.get("properties", {})
        additional = schema.get("additionalProperties", True)
        body: list[str] = []
        for name in required:
            reason = f"{name!r} is a required property"
            body += [f"if {name!r} not in {var}:", f"    return ({path}, {reason!r})"]
        known = self.constant(frozenset(properties))
        if additional is False:
            body += [
                f"if not {var}.keys() <= {known}:",
                f"    extra = ', '.join(repr(k) for k in {var} if k not in {known})",
                f"    return ({path}, 'no other properties allowed; unexpected: ' + extra)",
            ]
        for name, sub in properties.items():
            item = self.name("x")
            inner = self.check(sub, item, [*parts, repr(name)])
            if inner:
                body += [
                    f"{item} = {var}.get({name!r}, _MISSING)",
                    f"if {item} is not _MISSING:",
                    *_indent(inner),
                ]
        if additional not in (True, False):
            key, item = self.name("k"), self.name("x")
            inner = self.check(additional, item, [*parts, key])
            if inner:
                body += [
                    f"for {key}, {item} in {var}.items():",
                    f"    if {key} not in {known}:",
                    *_indent(inner, 2),
                ]
        return [f"if type({var}) is dict:", *_indent(body)] if body else []

    def build(self, schema: Any) -> Callable[[Any], _Failure | None]:
        root = self.function(schema)
        namespace = dict(self.constants)
        # Built from source once (as commands.py builds its encoders), so that a valid
        # envelope costs one call and a few inline tests.
        exec("\n\n".join(self.functions), namespace)
        check: Callable[[Any], _Failure | None] = namespace[root]
        return check


def _indent(lines: list[str], levels: int = 1) -> list[str]:
    pad = "    " * levels
    return [pad + line for line in lines]


def compile_schema(schema: Mapping[str, Any]) -> Checker:
    """Compile a JSON Schema (the keywords above) into a checker.

    The checker returns None for a valid value, else ``"<path>: <what is wrong>"``
    (the path is ``envelope`` for the value itself). Raises ValueError for a keyword
    the checker does not know.
    """
    check = _Compiler().build(dict(schema))

    def checker(value: Any) -> str | None:
        failure = check(value)
        if failure is None:
            return None
        path, message = failure
        where = "/".join(str(part) for part in path) or "envelope"
        return f"{where}: {message}"

    return checker
