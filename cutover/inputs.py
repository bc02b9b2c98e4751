"""Declared profile inputs: the front matter of a template, and checking a domain's inputs
against it before anything is rendered.

A profile declares its inputs in a Jinja comment at the very top of its template, so that the
declaration travels with the template when a user copies or overrides it:

    {#- ---
    title: Microsoft 365 / Exchange Online
    sources: ["MicrosoftDocs ... create-dns-records-at-any-dns-hosting-provider.md"]
    inputs:
      mx_host:
        type: host                                  # string | host | boolean | list
        required: "role == 'to' and '-' in domain"  # true, false, or a Jinja expression
        pattern: '[a-z0-9-]+\\.mail\\.protection\\.outlook\\.com'   # full match
        description: MX host from the admin center
    --- -#}

Why check before rendering: a template that meets a missing value fails somewhere in the middle,
and a template that meets a wrong value (a DKIM target with dashes where dots belong, an MX host
that is not Microsoft's) renders something plausible that breaks mail. Checking the declared
inputs first gives one line naming the domain, the profile and the input, and exit 2.

A template without front matter declares nothing and accepts any input (a user's own profile
keeps working); one with front matter rejects inputs it does not declare, because a typo such as
`mx_hots` would otherwise silently fall back to a derived value.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from .errors import TemplateError

FRONT_MATTER = re.compile(r"\A\{#-?\s*---[ \t]*\n(?P<body>.*?)\n---\s*-?#\}", re.DOTALL)
INPUT_TYPES = ("string", "host", "boolean", "list")
SPEC_KEYS = {"type", "required", "default", "pattern", "description", "fields", "count"}
META_KEYS = {"title", "sources", "notes", "inputs"}
_EXPRESSIONS = jinja2.Environment()  # lenient: `x is defined` and missing names are falsy


@dataclass(frozen=True)
class InputSpec:
    """One declared input of a profile."""

    name: str
    description: str
    type: str = "string"
    required: bool | str = False  # a string is a Jinja expression over domain, role, inputs
    default: Any = None
    has_default: bool = False
    pattern: str | None = None  # full match; for a list, each item
    fields: dict[str, str] = field(default_factory=dict)  # list of mappings: field -> pattern
    count: int | None = None  # a list must have exactly this many items

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "description": self.description,
        }
        if self.has_default:
            out["default"] = self.default
        if self.pattern:
            out["pattern"] = self.pattern
        if self.fields:
            out["fields"] = dict(self.fields)
        if self.count is not None:
            out["count"] = self.count
        return out


@dataclass(frozen=True)
class ProfileSpec:
    """What a template says about itself; `declared` False when it has no front matter."""

    name: str
    kind: str  # "profile" or "sender"
    path: Path
    title: str = ""
    sources: tuple[str, ...] = ()
    notes: str = ""
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    declared: bool = False


#: (name, kind, path, mtime_ns, size) -> the spec parsed from that version of the file
_SPECS: dict[tuple[str, str, str, int, int], ProfileSpec] = {}


def read_spec(name: str, kind: str, path: Path) -> ProfileSpec:
    """Parse the front matter of one template file; malformed front matter is a TemplateError.

    Parsed once per process and file version: rendering calls this for every profile of every
    domain (500 domains re-read and re-parsed the same YAML 1,500 times, 5 s). An edited file
    (new mtime or size) is parsed again; a malformed one is not cached and fails every time.
    """
    try:
        st = path.stat()
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read: {exc}") from exc
    key = (name, kind, str(path), st.st_mtime_ns, st.st_size)
    spec = _SPECS.get(key)
    if spec is None:
        spec = _parse_spec(name, kind, path)
        if len(_SPECS) > 1024:
            _SPECS.clear()
        _SPECS[key] = spec
    return spec


def _parse_spec(name: str, kind: str, path: Path) -> ProfileSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read: {exc}") from exc
    m = FRONT_MATTER.match(text)
    if not m:
        return ProfileSpec(name=name, kind=kind, path=path)
    where = f"{path.name} front matter"
    try:
        meta = yaml.safe_load(m.group("body")) or {}
    except yaml.YAMLError as exc:
        raise TemplateError(f"{where}: invalid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(meta, dict) or set(meta) - META_KEYS:
        raise TemplateError(f"{where}: must be a mapping of {', '.join(sorted(META_KEYS))}")
    raw_inputs = meta.get("inputs") or {}
    if not isinstance(raw_inputs, dict):
        raise TemplateError(f"{where}: inputs must be a mapping")
    inputs = {iname: _parse_input(where, str(iname), v) for iname, v in raw_inputs.items()}
    sources = meta.get("sources") or []
    return ProfileSpec(
        name=name,
        kind=kind,
        path=path,
        title=str(meta.get("title") or ""),
        sources=tuple(str(s) for s in sources),
        notes=" ".join(str(meta.get("notes") or "").split()),
        inputs=inputs,
        declared=True,
    )


def _parse_input(where: str, name: str, raw: Any) -> InputSpec:
    here = f"{where}: inputs.{name}"
    if not isinstance(raw, dict):
        raise TemplateError(f"{here}: must be a mapping")
    extra = set(raw) - SPEC_KEYS
    if extra:
        raise TemplateError(f"{here}: unknown keys {sorted(extra)} (allowed: {sorted(SPEC_KEYS)})")
    itype = raw.get("type", "string")
    if itype not in INPUT_TYPES:
        raise TemplateError(f"{here}: type {itype!r} (allowed: {', '.join(INPUT_TYPES)})")
    required = raw.get("required", False)
    if isinstance(required, str):
        try:
            _EXPRESSIONS.compile_expression(required)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{here}: required: invalid expression: {exc.message}") from exc
    elif not isinstance(required, bool):
        raise TemplateError(f"{here}: required must be true, false or an expression")
    for pat in [raw.get("pattern"), *(raw.get("fields") or {}).values()]:
        if pat is not None:
            try:
                re.compile(str(pat))
            except re.error as exc:
                raise TemplateError(f"{here}: invalid pattern {pat!r}: {exc}") from exc
    return InputSpec(
        name=name,
        description=" ".join(str(raw.get("description") or "").split()),
        type=itype,
        required=required,
        default=raw.get("default"),
        has_default="default" in raw,
        pattern=None if raw.get("pattern") is None else str(raw["pattern"]),
        fields={str(k): str(v) for k, v in (raw.get("fields") or {}).items()},
        count=raw.get("count"),
    )


@lru_cache(maxsize=256)
def _compiled(expression: str) -> Any:
    """A `required:` expression compiled once per process (compiling is ~0.1 ms, per domain)."""
    return _EXPRESSIONS.compile_expression(expression)


def is_required(spec: InputSpec, domain: str, role: str, inputs: dict[str, Any]) -> bool:
    if isinstance(spec.required, bool):
        return spec.required
    expr = _compiled(spec.required)
    return bool(expr(**{**inputs, "domain": domain, "role": role, "inputs": inputs}))


def _missing(value: Any) -> bool:
    return value is None or value == "" or value == []


def check_inputs(
    spec: ProfileSpec, domain: str, role: str, inputs: dict[str, Any], where: str, hint: str
) -> dict[str, Any]:
    """The inputs with defaults applied and hosts normalised, or a TemplateError that names
    `where` (domain, profile, role) and the input. `domain` is the ASCII (punycode) name."""
    if not spec.declared:
        return dict(inputs)
    for key in inputs:
        if key not in spec.inputs:
            known = ", ".join(spec.inputs) or "none"
            raise TemplateError(f"{where}: unknown input {key!r} (inputs: {known})", hint)
    out: dict[str, Any] = {}
    for name, ispec in spec.inputs.items():
        value = inputs.get(name)
        if not _missing(value):
            out[name] = _check_value(ispec, value, where, hint)
        elif ispec.has_default:  # defaults are the template author's: trusted, even when empty
            out[name] = copy.deepcopy(ispec.default)
    for name, ispec in spec.inputs.items():
        if name not in out and is_required(ispec, domain, role, out):
            why = f" ({ispec.description})" if ispec.description else ""
            raise TemplateError(f"{where}: missing input {name}{why}", hint)
    return out


def _check_value(ispec: InputSpec, value: Any, where: str, hint: str) -> Any:
    here = f"{where}: input {ispec.name}"
    if ispec.type == "boolean":
        if not isinstance(value, bool):
            raise TemplateError(f"{here} must be true or false, got {value!r}", hint)
        return value
    if ispec.type == "list":
        if not isinstance(value, list):
            raise TemplateError(f"{here} must be a list, got {type(value).__name__}", hint)
        if ispec.count is not None and len(value) != ispec.count:
            raise TemplateError(f"{here} must have {ispec.count} items, got {len(value)}", hint)
        if ispec.fields:
            return [_check_mapping(ispec, i, item, here, hint) for i, item in enumerate(value)]
        return [_scalar(ispec, item, f"{here}[{i}]", hint) for i, item in enumerate(value)]
    return _scalar(ispec, value, here, hint)


def _scalar(ispec: InputSpec, value: Any, here: str, hint: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TemplateError(f"{here} must be a string, got {value!r}", hint)
    text = str(value).strip()
    if ispec.type == "host":
        text = text.lower().rstrip(".")
    if ispec.pattern and not re.fullmatch(ispec.pattern, text):
        raise TemplateError(f"{here} {text!r} does not match {ispec.pattern}", hint)
    return text


def _check_mapping(ispec: InputSpec, i: int, item: Any, here: str, hint: str) -> dict[str, str]:
    if not isinstance(item, dict):
        raise TemplateError(f"{here}[{i}] must be a mapping with {', '.join(ispec.fields)}", hint)
    extra = set(item) - set(ispec.fields)
    if extra:
        raise TemplateError(
            f"{here}[{i}]: unknown keys {sorted(extra)} (allowed: {', '.join(ispec.fields)})", hint
        )
    out = {}
    for fname, pat in ispec.fields.items():
        value = item.get(fname)
        if _missing(value) or isinstance(value, bool) or not isinstance(value, str | int):
            raise TemplateError(f"{here}[{i}].{fname} is required (a string)", hint)
        text = str(value).strip()
        if not re.fullmatch(pat, text):
            raise TemplateError(f"{here}[{i}].{fname} {text!r} does not match {pat}", hint)
        out[fname] = text
    return out
