"""Instrument definition files: JSON or YAML text → a checked ``InstrumentSpec``, errors by line.

A practice that holds the rights to a licensed measure (ORS/SRS, CPQ, …) loads it as data —
through ``manage.py load_instrument`` or the admin's upload form, which both use this module. A
file holds one object::

    code: ors                    # a slug; with the version it names the instrument
    version: 1                   # a whole number ≥ 1; a loaded version never changes
    name: Outcome Rating Scale
    licence: Licensed to …       # optional
    definition:                  # items, scoring, cutoff, reliable change: see cyclecare.scoring
      items: …

Every error names the line it is on (syntax errors also the column):
``line 14: items[3].max: must be greater than min (10 ≥ 0 is a reversed range).``
Paths inside ``definition`` are the ones ``scoring.validate_definition`` reports, mapped back to
the line where that key (or list entry) starts in the file. Nothing here writes to the database
except ``instrument_load``, which runs in one transaction: a bad file saves nothing.

YAML is read with PyYAML's safe loader and limited to what JSON can hold: no anchors/aliases,
merge keys or tags that build dates, bytes or sets; keys are always text (``0:`` is the key
``"0"``). YAML 1.1 reads bare ``yes``/``no``/``on``/``off`` as true/false — quote them as text.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from . import scoring

try:
    import yaml
except ImportError:  # a host site that installed cyclecare without PyYAML can still load JSON
    yaml = None

# An instrument definition is a few kilobytes; even with several languages it stays far below this.
MAX_CHARS = 1_000_000
MAX_DEPTH = 32
TOP_LEVEL_KEYS = ("code", "version", "name", "licence", "definition")
REQUIRED_KEYS = ("code", "version", "name", "definition")
SLUG = re.compile(r"[-a-zA-Z0-9_]+")
# Limits of the Instrument model's columns (checked here so the message can name the line).
CODE_MAX, NAME_MAX, LICENCE_MAX, VERSION_MAX = 40, 120, 200, 32767

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class InstrumentSpec:
    code: str
    version: int
    name: str
    licence: str
    definition: dict[str, Any]


@dataclass
class _Document:
    """The parsed value plus where each key / list entry starts: path → (line, column), 1-based."""

    data: Any
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)
    errors: list[tuple[int, str]] = field(default_factory=list)

    def line(self, path: Path) -> int:
        """The line of ``path``, or of its nearest ancestor that is in the file."""
        while path not in self.positions and path:
            path = path[:-1]
        return self.positions.get(path, (1, 1))[0]

    def error(self, path: Path, message: str) -> None:
        self.errors.append((self.line(path), message))


def _at(line: int, column: int, message: str) -> ValidationError:
    return ValidationError(f"line {line}, column {column}: {message}")


# READING
# ------------------------------------------------------------------------------
def decode_instrument_file(raw: bytes) -> str:
    """Bytes of an uploaded or local file → text (UTF-8, with or without a byte-order mark)."""
    if len(raw) > MAX_CHARS:
        raise ValidationError(f"The file is larger than {MAX_CHARS // 1000} kB; a definition is far smaller.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = raw[: exc.start].decode("utf-8-sig", errors="replace")
        line, column = text.count("\n") + 1, len(text) - text.rfind("\n")
        raise ValidationError(
            f"line {line}, column {column}: the file is not UTF-8 text (save it as UTF-8)."
        ) from None


def parse_instrument_file(text: str, *, filename: str) -> InstrumentSpec:
    """Parse and check a definition file. JSON or YAML is chosen by the file's extension
    (.json / .yaml / .yml), otherwise by its content (a file that starts with ``{`` is JSON).
    Raises ValidationError whose messages each start with ``line N``."""
    if len(text) > MAX_CHARS:
        raise ValidationError(f"The file is larger than {MAX_CHARS // 1000} kB; a definition is far smaller.")
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ValidationError("The file is empty.")
    document = _load_json(text) if _is_json(text, filename) else _load_yaml(text)
    spec = _check(document)
    if document.errors or spec is None:
        ordered = sorted(document.errors, key=lambda error: error[0])  # stable: same line keeps order
        raise ValidationError([f"line {line}: {message}" for line, message in ordered])
    return spec


def _is_json(text: str, filename: str) -> bool:
    lowered = filename.lower()
    if lowered.endswith(".json"):
        return True
    if lowered.endswith((".yaml", ".yml")):
        return False
    return text.lstrip().startswith("{")


# JSON, with the position of every key
# ------------------------------------------------------------------------------
class _NonFinite:
    def __init__(self, name: str) -> None:
        self.name = name


def _load_json(text: str) -> _Document:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise _at(exc.lineno, exc.colno, f"JSON syntax: {exc.msg}.") from None
    except ValueError as exc:  # e.g. an integer longer than Python's int-conversion limit
        raise ValidationError(f"JSON: {exc}.") from None
    except RecursionError:
        raise ValidationError("The file is nested too deeply to be an instrument definition.") from None
    # The text is valid JSON: walk it once more, building the value and noting where each key and
    # list entry starts (json.loads keeps no positions).
    return _JsonWalker(text).run()


class _JsonWalker:
    WHITESPACE = " \t\n\r"

    def __init__(self, text: str) -> None:
        self.text = text
        self.decoder = json.JSONDecoder(parse_constant=_NonFinite)
        self.document = _Document(data=None)

    def run(self) -> _Document:
        start = self._skip(0)
        self.document.positions[()] = self._line_column(start)
        self.document.data, _ = self._value(start, (), 0)
        return self.document

    def _skip(self, index: int) -> int:
        while index < len(self.text) and self.text[index] in self.WHITESPACE:
            index += 1
        return index

    def _line_column(self, offset: int) -> tuple[int, int]:
        return self.text.count("\n", 0, offset) + 1, offset - self.text.rfind("\n", 0, offset)

    def _value(self, index: int, path: Path, depth: int) -> tuple[Any, int]:
        if depth > MAX_DEPTH:
            raise _at(*self._line_column(index), f"nested more than {MAX_DEPTH} levels deep.")
        char = self.text[index]
        if char == "{":
            return self._object(index, path, depth)
        if char == "[":
            return self._array(index, path, depth)
        value, end = self.decoder.raw_decode(self.text, index)
        if isinstance(value, _NonFinite) or (isinstance(value, float) and not math.isfinite(value)):
            self.document.error(path, f"{_dotted(path)}: {self.text[index:end]} is not a finite number.")
            value = None
        return value, end

    def _object(self, index: int, path: Path, depth: int) -> tuple[dict[str, Any], int]:
        result: dict[str, Any] = {}
        index = self._skip(index + 1)
        if self.text[index] == "}":
            return result, index + 1
        while True:
            key_start = self._skip(index)
            key, index = json.decoder.scanstring(self.text, key_start + 1)
            child = (*path, key)
            if key in result:
                line, _ = self._line_column(key_start)
                self.document.errors.append((line, f"{_dotted(child)}: the key {key!r} appears twice."))
            else:
                self.document.positions[child] = self._line_column(key_start)
            index = self._skip(self._skip(index) + 1)  # past the colon
            result[key], index = self._value(index, child, depth + 1)
            index = self._skip(index)
            if self.text[index] == "}":
                return result, index + 1
            index += 1  # the comma

    def _array(self, index: int, path: Path, depth: int) -> tuple[list[Any], int]:
        result: list[Any] = []
        index = self._skip(index + 1)
        if self.text[index] == "]":
            return result, index + 1
        while True:
            index = self._skip(index)
            child = (*path, len(result))
            self.document.positions[child] = self._line_column(index)
            value, index = self._value(index, child, depth + 1)
            result.append(value)
            index = self._skip(index)
            if self.text[index] == "]":
                return result, index + 1
            index += 1


# YAML, through the node tree (which carries each node's start mark)
# ------------------------------------------------------------------------------
@functools.cache
def _loader_class() -> type:
    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            # An alias would share (or, through nesting, multiply) one node; a definition never
            # needs one, and refusing them here also rules out "billion laughs" expansion.
            if self.check_event(yaml.AliasEvent):
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    "anchors and aliases (*name) are not supported; write the value out",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)

    return Loader


YAML_MAP, YAML_SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
YAML_SCALAR_TYPES = (str, int, float, bool, type(None))


def _load_yaml(text: str) -> _Document:
    if yaml is None:
        raise ValidationError("This server cannot read YAML (PyYAML is not installed); upload JSON instead.")
    loader = None
    try:
        loader = _loader_class()(text)  # reads the whole text: may raise ReaderError
        root = loader.get_single_node()
        if root is None:
            raise ValidationError("The file is empty.")
        document = _Document(data=None, positions={(): _mark(root)})
        document.data = _YamlBuilder(loader, document).build(root, (), 0)
        return document
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = ", ".join(part for part in (exc.context, exc.problem) if part) or "not valid YAML"
        if mark is None:
            raise ValidationError(f"YAML syntax: {problem}.") from None
        raise _at(mark.line + 1, mark.column + 1, f"YAML syntax: {problem}.") from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
        raise _at(line, column, f"YAML: {exc.reason}.") from None
    except yaml.YAMLError as exc:
        raise ValidationError(f"YAML: {exc}") from None
    except RecursionError:
        raise ValidationError("The file is nested too deeply to be an instrument definition.") from None
    finally:
        if loader is not None:
            loader.dispose()


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _YamlBuilder:
    def __init__(self, loader: yaml.SafeLoader, document: _Document) -> None:
        self.loader = loader
        self.document = document

    def build(self, node: yaml.Node, path: Path, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise _at(*_mark(node), f"nested more than {MAX_DEPTH} levels deep.")
        if isinstance(node, yaml.MappingNode):
            if node.tag != YAML_MAP:
                raise _at(*_mark(node), f"the tag {node.tag} is not supported; use a plain mapping.")
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != YAML_SEQ:
                raise _at(*_mark(node), f"the tag {node.tag} is not supported; use a plain list.")
            result = []
            for index, child in enumerate(node.value):
                self.document.positions[(*path, index)] = _mark(child)
                result.append(self.build(child, (*path, index), depth + 1))
            return result
        try:
            value = self.loader.construct_object(node)
        except ValueError as exc:  # e.g. an integer longer than Python's int-conversion limit
            raise _at(*_mark(node), f"{_dotted(path)}: {exc}.") from None
        if not isinstance(value, YAML_SCALAR_TYPES):
            self.document.errors.append(
                (
                    _mark(node)[0],
                    f"{_dotted(path)}: {node.value!r} reads as a {type(value).__name__}, "
                    "which a definition cannot hold; put it in quotes to make it text.",
                )
            )
            return None
        if isinstance(value, float) and not math.isfinite(value):
            message = f"{_dotted(path)}: {node.value} is not a finite number."
            self.document.errors.append((_mark(node)[0], message))
            return None
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _at(*_mark(key_node), "a key must be plain text.")
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _at(*_mark(key_node), "merge keys (<<) are not supported; write the keys out.")
            key = key_node.value  # the text as written: `0:` is the key "0", as in JSON
            child = (*path, key)
            if key in result:
                self.document.errors.append(
                    (_mark(key_node)[0], f"{_dotted(child)}: the key {key!r} appears twice.")
                )
                continue
            self.document.positions[child] = _mark(key_node)
            result[key] = self.build(value_node, child, depth + 1)
        return result


# CHECKING
# ------------------------------------------------------------------------------
def _dotted(path: Path) -> str:
    """('definition', 'items', 3, 'max') → 'definition.items[3].max'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(the file)"


def _check(document: _Document) -> InstrumentSpec | None:
    data = document.data
    if not isinstance(data, dict):
        document.error((), "the file must hold one object with code, version, name and definition.")
        return None
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            document.error((key,), f"{key!r} is not a known top-level key (use {', '.join(TOP_LEVEL_KEYS)}).")
    for key in REQUIRED_KEYS:
        if key not in data:
            document.error((), f"{key}: required.")
    checks: dict[str, Callable[[Any], str | None]] = {
        "code": _check_code,
        "version": _check_version,
        "name": _check_name,
        "licence": _check_licence,
    }
    for key, check in checks.items():
        problem = check(data[key]) if key in data else None
        if problem:
            document.error((key,), f"{key}: {problem}")
    definition = data.get("definition")
    if "definition" in data and not isinstance(definition, dict):
        document.error(("definition",), "definition: must be an object with an 'items' list.")
    elif isinstance(definition, dict):
        try:
            scoring.validate_definition(definition)
        except ValidationError as exc:
            for message in exc.messages:
                document.error(_definition_path(message, document), message)
    if document.errors:
        return None
    return InstrumentSpec(
        code=data["code"],
        version=data["version"],
        name=data["name"].strip(),
        licence=data.get("licence", "").strip(),
        definition=definition,
    )


def _check_code(value: Any) -> str | None:
    if not isinstance(value, str) or not SLUG.fullmatch(value) or len(value) > CODE_MAX:
        return f"use letters, digits, hyphens and underscores only, at most {CODE_MAX} characters."
    return None


def _check_version(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= VERSION_MAX:
        return f"a whole number from 1 to {VERSION_MAX}."
    return None


def _check_name(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > NAME_MAX:
        return f"text of 1 to {NAME_MAX} characters."
    return None


def _check_licence(value: Any) -> str | None:
    if not isinstance(value, str) or len(value.strip()) > LICENCE_MAX:
        return f"text of at most {LICENCE_MAX} characters."
    return None


_SEGMENT = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _definition_path(message: str, document: _Document) -> Path:
    """``items[3].max: …`` → ('definition', 'items', 3, 'max'), as far as the file has it."""
    path: Path = ("definition",)
    head, separator, _ = message.partition(": ")
    if not separator:
        return path
    for index, name in _SEGMENT.findall(head):
        step: str | int = int(index) if index else name
        # "min/max" names two keys: point at whichever the item has; a key may itself hold "/".
        candidates = [step] if isinstance(step, int) else [step, *step.split("/")]
        found = next((c for c in candidates if (*path, c) in document.positions), None)
        if found is None:
            break
        path = (*path, found)
    return path


def summarise(definition: dict[str, Any]) -> list[str]:
    """What a definition measures, without any item wording (licensed text is not ours to print)."""
    items = definition["items"]
    kinds: dict[str, int] = {}
    for item in items:
        kinds[item["type"]] = kinds.get(item["type"], 0) + 1
    lines = [
        f"{len(items)} items ({', '.join(f'{kind} {count}' for kind, count in kinds.items())}), "
        f"{sum(1 for item in items if item.get('reverse'))} reverse-keyed, "
        f"{sum(1 for item in items if not item.get('required', True))} optional"
    ]
    if definition.get("total"):
        lines.append(f"total of {len(definition['total']['items'])} items")
    for name, scale in (definition.get("subscales") or {}).items():
        lines.append(f"subscale {name}: {len(scale['items'])} items")
    cutoff = definition.get("cutoff")
    if cutoff:
        label = f" ({cutoff['label']})" if cutoff.get("label") else ""
        lines.append(f"cutoff: clinical {cutoff['clinical_when'].replace('_', ' ')} {cutoff['value']}{label}")
    change = definition.get("reliable_change")
    if change and scoring.uses_practice_intake(change):
        lines.append(
            f"reliable change: SD of the practice's intake scores (at least {change['min_partners']} "
            f"partners), reliability {change['reliability']:g}"
        )
    elif change:
        threshold = scoring.reliable_change_threshold(change)
        lines.append(f"reliable change: {threshold:g} points")
    return lines
