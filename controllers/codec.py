"""The one codec of the federation link: a wire form derived from dataclass fields.

Role: every frozen dataclass that travels on the link — the messages of
``controllers/messages.py`` and the live-state records of ``hub/conference.py`` — gets
its JSON form (docs/member-link.md) from its own fields. A field's type hint says how
its value is encoded and decoded (text, integer, number, flag, enum, record, list,
object, or a union of change records tagged by ``kind``); a ``Spec`` annotating the
type (``Annotated[str, wire(limit=64)]``), or for hub records a line of ``RECORD_WIRE``
below, says
where it sits on the wire and which limits it must meet. Messages check those limits
when built (``LinkRecord.__post_init__`` → ``validate``); hub records check their own.

Encoders and decoders are generated as Python source once per class, as
``dataclasses`` generates ``__init__``, so a frame costs what hand-written code would.
Decoding checks every JSON type and raises ``WireError`` naming the field at fault;
the constructor then checks the invariants, so whatever decodes is valid and
``from_wire(cls, to_wire(x)) == x`` for every value.
"""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass
from enum import Enum
from types import MappingProxyType
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

from hub.conference import (
    Conference,
    Event,
    InvalidRecord,
    Snapshot,
    Venue,
)

Wire = dict[str, Any]
MAX_INT = 2**63
_B64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")


class WireError(ValueError):
    """A message or record on the link is malformed; the text says which field and why."""


class FrameTooLarge(WireError):
    """A frame is longer than the receiver's limit (close code 1009, not 1007)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"frame of {size} bytes exceeds the limit of {limit}")
        self.size = size
        self.limit = limit


# --- what a field says about itself ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spec:
    """Where a field sits on the wire and which limits its value meets.

    Placement: ``path`` nests it in an object (``("target",)``); ``required`` forces
    a field with a default to be present on the wire; ``omit_default`` leaves it out
    when it equals its default; ``flatten`` spreads a record's (or change's) fields
    into the enclosing object. Limits (checked when a message is built): ``limit``
    characters of text (``empty_ok``, ``base64``), integers from ``low`` below ``high``, ``items``
    = (min, max) entries of a list or object, ``key_limit`` for an object's keys.
    ``what`` names the value in error texts (default: the field name).
    """

    path: tuple[str, ...] = ()
    required: bool | None = None
    omit_default: bool = False
    flatten: bool = False
    limit: int = 0
    empty_ok: bool = False
    base64: bool = False
    low: int = 0
    high: int = MAX_INT
    items: tuple[int, int] | None = None
    key_limit: int = 0
    what: str = ""


def wire(**spec: Any) -> Spec:
    """A field's wire description: ``name: Annotated[str, wire(limit=64)] = ""``."""
    return Spec(**spec)


# Wire placement of hub records (hub/conference.py keeps no wire knowledge of its own).
RECORD_WIRE: dict[type, dict[str, Spec]] = {
    Venue: {
        "muted": Spec(required=True),
        "camera_on": Spec(required=True),
        "cascade": Spec(omit_default=True),
        "stats": Spec(omit_default=True),
        "reason": Spec(omit_default=True),
    },
    Conference: {"layout": Spec(required=True), "started_at": Spec(required=True)},
    Snapshot: {"conferences": Spec(required=True)},
    Event: {"change": Spec(flatten=True)},
}


# --- shapes: what a type hint means on the wire ---------------------------------------


@dataclass(frozen=True, slots=True)
class _Shape:
    kind: str  # str int float bool enum record tagged seq object optional
    of: Any = None  # enum class, record class, tagged {KIND: class}, inner shape


def _shape(hint: Any) -> _Shape:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) < len(get_args(hint)):  # X | None
            inner = args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007
            return _Shape("optional", _shape(inner))
        if all(dataclasses.is_dataclass(a) and hasattr(a, "KIND") for a in args):
            return _Shape("tagged", {a.KIND: a for a in args})
        raise TypeError(f"no wire form for {hint!r}")
    if origin is tuple:
        return _Shape("seq", _shape(get_args(hint)[0]))
    if origin in (Mapping, dict) or hint in (Mapping, dict):
        return _Shape("object")
    if isinstance(hint, type):
        if issubclass(hint, Enum):
            return _Shape("enum", hint)
        if dataclasses.is_dataclass(hint):
            return _Shape("record", hint)
        for prim in (bool, int, float, str):
            if issubclass(hint, prim):
                return _Shape(prim.__name__)
    raise TypeError(f"no wire form for {hint!r}")


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    key: str
    shape: _Shape
    spec: Spec
    default: Any  # MISSING when the field has none

    @property
    def required(self) -> bool:
        if self.spec.required is not None:
            return self.spec.required
        return self.default is MISSING

    @property
    def what(self) -> str:
        return self.spec.what or self.name


def fields_of(cls: type) -> tuple[_Field, ...]:
    """The wire description of ``cls``'s init fields, in declaration order."""
    cached = _FIELDS.get(cls)
    if cached is not None:
        return cached
    hints = get_type_hints(cls, include_extras=True)
    overrides = RECORD_WIRE.get(cls, {})
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        hint = hints[f.name]
        spec = overrides.get(f.name, Spec())
        if get_origin(hint) is Annotated:
            hint, *extras = get_args(hint)
            spec = next((e for e in extras if isinstance(e, Spec)), spec)
        default = f.default
        if f.default_factory is not MISSING:
            default = f.default_factory()
        out.append(_Field(f.name, f.name, _shape(hint), spec, default))
    result = tuple(out)
    _FIELDS[cls] = result
    return result


_FIELDS: dict[type, tuple[_Field, ...]] = {}


# --- errors raised by generated code --------------------------------------------------

_NUMERIC = ("int", "float")
# kinds decoded by one exact type check: kind -> (Python type, the expected-type
# argument of ``_wrong``); enums arrive as str (the constructor coerces them)
_EXACT_TYPES = {
    "str": ("str", ""),
    "enum": ("str", ""),
    "int": ("int", ", 'int'"),
    "bool": ("bool", ""),
    "object": ("dict", ""),
}


def _missing(key: str) -> WireError:
    return WireError(f"missing field '{key}'")


def _wrong(key: str, value: Any, expected: str = "") -> WireError:
    if isinstance(value, bool) and expected in _NUMERIC:
        return WireError(f"field '{key}' must be a number, not a boolean")
    return WireError(f"field '{key}' has the wrong type ({type(value).__name__})")


def _not_object(what: str) -> WireError:
    return WireError(f"{what} must be an object")


# --- code generation ------------------------------------------------------------------


class _Gen:
    """Writes the source of one class's encoder and decoder, and their namespace."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {
            "WireError": WireError,
            "_missing": _missing,
            "_wrong": _wrong,
            "_not_object": _not_object,
            "MISSING": MISSING,
        }
        self.n = 0

    def name(self, prefix: str, value: Any) -> str:
        self.n += 1
        ident = f"{prefix}{self.n}"
        self.ns[ident] = value
        return ident

    # decoding: statements that read ``src`` (already fetched) into ``dst``

    def dec(self, shape: _Shape, src: str, dst: str, key: str, ind: str) -> list[str]:
        k = repr(key)
        exact = _EXACT_TYPES.get(shape.kind)
        if exact is not None:  # one Python type, taken as it is
            py_type, named = exact
            return [
                f"{ind}if type({src}) is not {py_type}: raise _wrong({k}, {src}{named})",
                f"{ind}{dst} = {src}",
            ]
        if shape.kind == "float":
            return [
                f"{ind}if type({src}) is float: {dst} = {src}",
                f"{ind}elif type({src}) is int: {dst} = float({src})",
                f"{ind}else: raise _wrong({k}, {src}, 'float')",
            ]
        if shape.kind == "record":
            fn = self.name("_dec", decoder(shape.of))
            return [f"{ind}{dst} = {fn}({src}, {k})"]
        if shape.kind == "tagged":
            fn = self.name("_dec", _tagged_decoder(shape.of))
            return [f"{ind}{dst} = {fn}({src}, {k})"]
        if shape.kind == "optional":
            return [
                f"{ind}if {src} is None: {dst} = None",
                f"{ind}else:",
                *self.dec(shape.of, src, dst, key, ind + "    "),
            ]
        if shape.kind == "seq":
            item = shape.of
            lines = [f"{ind}if type({src}) is not list: raise _wrong({k}, {src})"]
            if item.kind in ("record", "tagged"):
                fn = self.name(
                    "_dec", decoder(item.of) if item.kind == "record" else _tagged_decoder(item.of)
                )
                what = repr(f"each of '{key}'")
                return [*lines, f"{ind}{dst} = tuple([{fn}(x, {what}) for x in {src}])"]
            body = self.dec(item, "x", "y", f"{key}[]", ind + "    ")
            return [
                *lines,
                f"{ind}{dst} = []",
                f"{ind}for x in {src}:",
                *body,
                f"{ind}    {dst}.append(y)",
                f"{ind}{dst} = tuple({dst})",
            ]
        raise TypeError(shape)

    # encoding: an expression of ``src``

    def enc(self, shape: _Shape, src: str) -> str:
        if shape.kind in ("str", "int", "float", "bool", "enum"):
            return src  # orjson writes an enum as its value
        if shape.kind == "object":
            return f"dict({src})"
        if shape.kind == "record":
            return f"{self.name('_enc', encoder(shape.of))}({src})"
        if shape.kind == "tagged":
            return f"{self.name('_enc', _tagged_encoder(shape.of))}({src})"
        if shape.kind == "optional":
            return f"(None if {src} is None else {self.enc(shape.of, src)})"
        if shape.kind == "seq":
            if shape.of.kind in ("str", "int", "float", "bool", "enum"):
                return f"list({src})"
            return f"[{self.enc(shape.of, 'x')} for x in {src}]"
        raise TypeError(shape)


def _compile(source: str, ns: dict[str, Any], name: str) -> Callable[..., Any]:
    exec(compile(source, f"<wire codec {name}>", "exec"), ns)  # noqa: S102 - our own source
    fn: Callable[..., Any] = ns[name]
    return fn


_DECODERS: dict[type, Callable[[Any, str], Any]] = {}
_ENCODERS: dict[type, Callable[[Any], Wire]] = {}


def decoder(cls: type) -> Callable[[Any, str], Any]:
    """``decode(obj, what)``: build a ``cls`` from its wire object, or raise ``WireError``."""
    fn = _DECODERS.get(cls)
    if fn is None:
        # Placeholder first: a record that (indirectly) contains itself would recurse.
        _DECODERS[cls] = lambda d, what: _DECODERS[cls](d, what)
        fn = _DECODERS[cls] = _build_decoder(cls)
    return fn


def encoder(cls: type) -> Callable[[Any], Wire]:
    """``encode(value)``: the wire object (a fresh dict) of a ``cls`` value."""
    fn = _ENCODERS.get(cls)
    if fn is None:
        _ENCODERS[cls] = lambda o: _ENCODERS[cls](o)
        fn = _ENCODERS[cls] = _build_encoder(cls)
    return fn


def _build_decoder(cls: type) -> Callable[[Any, str], Any]:
    g = _Gen()
    g.ns["cls"] = cls
    lines = ["def decode(d, what):", "    if type(d) is not dict: raise _not_object(what)"]
    sources: dict[tuple[str, ...], str] = {(): "d"}
    args = []
    for i, f in enumerate(fields_of(cls)):
        dst = f"f{i}"
        args.append(dst)
        if f.spec.flatten:
            fn = g.name(
                "_dec",
                _tagged_decoder(f.shape.of) if f.shape.kind == "tagged" else decoder(f.shape.of),
            )
            lines.append(f"    {dst} = {fn}(d, what)")
            continue
        path = f.spec.path
        if path not in sources:
            parent = sources[path[:-1]]
            var = sources[path] = f"p{len(sources)}"
            lines.append(f"    {var} = {parent}.get({path[-1]!r})")
            lines.append(f"    if type({var}) is not dict: raise _not_object({path[-1]!r})")
        src = sources[path]
        if f.required:
            lines.append(f"    v = {src}.get({f.key!r}, MISSING)")
            lines.append(f"    if v is MISSING: raise _missing({f.key!r})")
            lines.extend(g.dec(f.shape, "v", dst, f.key, "    "))
        else:
            default = g.name("_default", f.default)
            inner = f.shape.of if f.shape.kind == "optional" else f.shape
            lines.append(f"    v = {src}.get({f.key!r})")
            lines.append(f"    if v is None: {dst} = {default}")
            lines.append("    else:")
            lines.extend(g.dec(inner, "v", dst, f.key, "        "))
    lines.append(f"    return cls({', '.join(args)})")
    return _compile("\n".join(lines), g.ns, "decode")


def _build_encoder(cls: type, tag: str | None = None) -> Callable[[Any], Wire]:
    g = _Gen()
    fields = fields_of(cls)
    flat = [f for f in fields if f.spec.flatten]
    lines = ["def encode(o):"]
    if flat:  # a flattened record's fields come first (docs/member-link.md order)
        (f,) = flat
        lines.append(f"    out = {g.enc(f.shape, 'o.' + f.name)}")
    else:
        lines.append("    out = {}" if tag is None else f"    out = {{'kind': {tag!r}}}")
    placed: set[tuple[str, ...]] = set()
    for f in fields:
        if f.spec.flatten:
            continue
        value = g.enc(f.shape, f"o.{f.name}")
        if f.spec.path:
            top = f.spec.path[0]
            if f.spec.path not in placed:  # the nested object sits where its first field is
                placed.add(f.spec.path)
                lines.append(f"    out[{top!r}] = {{}}")
            target = "out" + "".join(f"[{p!r}]" for p in f.spec.path)
        else:
            target = "out"
        if f.spec.omit_default:
            test = "is not None" if f.default is None else f"!= {g.name('_default', f.default)}"
            lines.append(f"    if o.{f.name} {test}: {target}[{f.key!r}] = {value}")
        else:
            lines.append(f"    {target}[{f.key!r}] = {value}")
    lines.append("    return out")
    return _compile("\n".join(lines), g.ns, "encode")


def _tagged_decoder(classes: Mapping[str, type]) -> Callable[[Any, str], Any]:
    decoders = {kind: decoder(c) for kind, c in classes.items()}

    def decode(d: Any, what: str) -> Any:
        if type(d) is not dict:
            raise _not_object(what)
        kind = d.get("kind", MISSING)
        if kind is MISSING:
            raise _missing("kind")
        if type(kind) is not str:
            raise _wrong("kind", kind)
        fn = decoders.get(kind)
        if fn is None:
            raise WireError(f"unknown event kind '{kind}'")
        return fn(d, what)

    return decode


def _tagged_encoder(classes: Mapping[str, type]) -> Callable[[Any], Wire]:
    encoders = {c: _build_encoder(c, tag=kind) for kind, c in classes.items()}

    def encode(o: Any) -> Wire:
        return encoders[type(o)](o)

    return encode


# --- the public face ------------------------------------------------------------------


def to_wire(value: Any) -> Wire:
    """The wire object of a link message or record (a fresh dict, orjson-ready)."""
    return encoder(type(value))(value)


def from_wire(cls: type[Any], d: Any, what: str = "") -> Any:
    """A ``cls`` from its wire object; ``WireError`` (also for broken invariants) if not."""
    try:
        return decoder(cls)(d, what or cls.__name__.lower())
    except WireError:
        raise
    except (InvalidRecord, ValueError, TypeError) as exc:
        raise WireError(str(exc)) from None


# --- validation of messages when built ------------------------------------------------


def _text(what: str, value: object, spec: Spec) -> str:
    limit = spec.limit or 256
    if not isinstance(value, str) or len(value) > limit or (not value and not spec.empty_ok):
        raise WireError(
            f"{what} must be a string of {0 if spec.empty_ok else 1}..{limit} characters"
        )
    if spec.base64 and not _B64.match(value):
        raise WireError(f"{what} must be base64")
    return value


def _count(what: str, value: object, spec: Spec) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not spec.low <= value < spec.high:
        if spec.high < MAX_INT:
            raise WireError(f"{what} must be an integer in {spec.low}..{spec.high - 1}")
        raise WireError(f"{what} must be an integer >= {spec.low}")
    return value


def _flag(what: str, value: object, spec: Spec) -> bool:
    if not isinstance(value, bool):
        raise WireError(f"{what} must be a boolean")
    return value


def _check_value(f: _Field, shape: _Shape, what: str, value: Any) -> Any:
    """``value`` checked against ``shape`` and the field's limits, normalised."""
    spec = f.spec
    kind = shape.kind
    if kind == "str":
        return _text(what, value, spec)
    if kind == "int":
        return _count(what, value, spec)
    if kind == "bool":
        return _flag(what, value, spec)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise WireError(f"{what} must be a number")
        return value
    if kind == "enum":
        try:
            return shape.of(value)
        except ValueError:
            raise WireError(f"unknown {what} '{value}'") from None
    if kind == "record":
        if not isinstance(value, shape.of):
            raise WireError(f"{what} must be a {shape.of.__name__}")
        return value
    if kind == "optional":
        return None if value is None else _check_value(f, shape.of, what, value)
    if kind == "seq":
        items = tuple(value) if isinstance(value, list | tuple) else None
        low, high = spec.items or (0, MAX_INT)
        if items is None or not low <= len(items) <= high:
            raise WireError(f"{what} must list {low}..{high} entries")
        item = shape.of
        if item.kind == "object":
            if not all(isinstance(i, Mapping) for i in items):
                raise WireError(f"{what} must be objects")
            return items
        return tuple(_check_value(f, item, f"each of {what}", i) for i in items)
    if kind == "object":
        high = spec.items[1] if spec.items else MAX_INT
        if not isinstance(value, Mapping) or len(value) > high:
            raise WireError(f"{what} must be an object of at most {high} entries")
        for k, v in value.items():
            _text(f"{what} name", k, Spec(limit=spec.key_limit or 64))
            if not isinstance(v, str | int | float | bool | None):
                raise WireError(f"{what} '{k}' must be a scalar")
            if isinstance(v, str) and len(v) > (spec.limit or 1024):
                raise WireError(f"{what} '{k}' is too long")
        return MappingProxyType(dict(value))
    raise TypeError(shape)


def validate(obj: Any) -> None:
    """Check every field of a just-built message against its type and limits.

    Normalises in place (lists become tuples, text becomes its enum, objects become
    read-only); raises ``WireError`` naming the first field at fault.
    """
    for f in fields_of(type(obj)):
        value = getattr(obj, f.name)
        checked = _check_value(f, f.shape, f.what, value)
        if checked is not value:
            object.__setattr__(obj, f.name, checked)


class LinkRecord:
    """Base of link messages: validated from their field specs when built.

    A subclass with a rule across fields defines ``invariant(self)`` (raise
    ``WireError``); it runs after the field checks.
    """

    __slots__ = ()

    def __post_init__(self) -> None:
        validate(self)
        check = getattr(self, "invariant", None)
        if check is not None:
            check()
