"""Facts: typed units of what vmcert knows about a machine, and the values collected for a run.

A :class:`Fact` keeps a probe's shell text and the parser of its output together: the text is
package data next to the fact's module (``checks/facts/NAME.sh``, per-family variants
``NAME.FAMILY.sh``), and ``parse(text)`` turns what the text printed into a small frozen
dataclass. Checks read those parsed values, never the text. A fact without a shell text is
*supplied* by the caller (the offline image inspection, the harness's footprint).

:data:`FACTS` holds every fact by name: the built-in ones are discovered (each module of the
:mod:`checks.facts` package defines ``FACT``), third-party ones come through the ``vmcert.facts``
entry-point group.

:class:`Facts` is what one run collected: parsed values by fact, the texts as collected, and why
a fact is missing (probe exit status, time-out, parse error).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from types import MappingProxyType
from typing import TYPE_CHECKING, Generic, TypeAlias, TypeVar, cast

import checks.facts
from checks.errors import CheckError
from checks.family import FAMILIES
from images.registry import Registry

if TYPE_CHECKING:
    from checks.offline.image import OfflineImage

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

OfflineReader: TypeAlias = "Callable[[OfflineImage], str]"
"""Reads a fact from an image's files: returns exactly the text the fact's probe would print on
that file tree (the same :attr:`Fact.parse` then runs); raises an ``ImageError`` (or
:class:`checks.offline.image.OfflineError`) when the files cannot give it."""

BUILTIN_PACKAGE = checks.facts.__name__


class FactError(CheckError):
    """A fact is defined wrongly (a missing shell text, a module without ``FACT``): a bug."""


class MissingFactError(LookupError):
    """A fact a check needs has no value (see :attr:`Facts.errors` for why)."""


@dataclass(frozen=True, eq=False)
class Fact(Generic[T_co]):
    """One fact: its name, the shell text that collects it (per family) and its parser."""

    name: str
    parse: Callable[[str], T_co]
    """Turns the probe's standard output into the fact's value; raising means unparseable."""
    script: str = ""
    """The default shell text (POSIX sh); empty for a fact the caller supplies."""
    family_scripts: Mapping[str, str] = field(default_factory=dict)
    """Shell texts for particular distribution families (:data:`checks.family.FAMILIES`)."""
    timeout: float = 10.0
    """Seconds before the batch's watchdog stops the probe (exit status 124 is reported)."""
    max_output: int = 64 * 1024
    """Bytes of standard output kept; the rest is counted and reported as dropped."""
    needs_root: bool = False
    description: str = ""
    offline: OfflineReader | None = None
    """Reads the fact from the image's files without booting (None: only a running system can
    give it; see :attr:`offline_note`)."""
    shipped: bool = False
    """The fact describes what the image ships and first boot rewrites (host keys, leases,
    histories, credentials): a booting ``certify`` reads it from the image, not the machine."""
    offline_note: str = ""
    """Why the fact needs a running system, or how its offline reading differs from the probe."""

    @property
    def probed(self) -> bool:
        """Whether a probe collects this fact (otherwise the caller supplies its value)."""
        return bool(self.script)

    def script_for(self, family: str) -> str:
        """The shell text for ``family`` (the default when there is no specialised one)."""
        return self.family_scripts.get(family, self.script)


_HELPER = re.compile(r"(?<![\w$])(vp_[a-z]+)(?![\w(])")


def shell_text(body: str, package: str = BUILTIN_PACKAGE) -> str:
    """``body`` with the shared helper functions it calls prepended.

    A helper is a ``vp_NAME.sh`` file of ``package`` defining ``vp_NAME()``; it is included when
    the body calls ``vp_NAME`` without defining it. The result is one standalone POSIX sh text.
    """
    defined = set(re.findall(r"^\s*(vp_[a-z]+)\(\)", body, re.MULTILINE))
    used = sorted(set(_HELPER.findall(body)) - defined)
    root = files(package)
    helpers = [
        (root / f"{name}.sh").read_text(encoding="utf-8")
        for name in used
        if (root / f"{name}.sh").is_file()
    ]
    return ("".join(helpers) + body).strip() + "\n"


def fact(
    name: str,
    parse: Callable[[str], T],
    *,
    timeout: float = 10.0,
    max_output: int = 64 * 1024,
    needs_root: bool = False,
    description: str = "",
    package: str = BUILTIN_PACKAGE,
    offline: OfflineReader | None = None,
    shipped: bool = False,
    offline_note: str = "",
) -> Fact[T]:
    """Define a probed fact whose shell texts are ``package``'s ``NAME.sh`` and ``NAME.FAMILY.sh``
    files (package data next to the fact's module). ``offline`` reads the same text from an
    image's files (see :data:`OfflineReader`); ``shipped`` and ``offline_note`` as on
    :class:`Fact`."""
    root = files(package)
    default = root / f"{name}.sh"
    if not default.is_file():
        raise FactError(f"fact {name!r} has no shell text: add {package}/{name}.sh")
    variants = {
        family: shell_text((root / f"{name}.{family}.sh").read_text(encoding="utf-8"), package)
        for family in FAMILIES
        if (root / f"{name}.{family}.sh").is_file()
    }
    return Fact(
        name=name,
        parse=parse,
        script=shell_text(default.read_text(encoding="utf-8"), package),
        family_scripts=variants,
        timeout=timeout,
        max_output=max_output,
        needs_root=needs_root,
        description=description,
        offline=offline,
        shipped=shipped,
        offline_note=offline_note,
    )


def supplied(name: str, kind: type[T], *, description: str = "") -> Fact[T]:
    """Define a fact the caller supplies as a ``kind`` value (no probe, no text form)."""

    def parse(text: str) -> T:
        raise FactError(f"fact {name!r} is supplied as a {kind.__name__}, not parsed from text")

    return Fact(name=name, parse=parse, description=description)


FACTS: Registry[Fact[object]] = Registry("fact", "vmcert.facts")
"""Every fact by name: the built-in ones (after :func:`load_builtin_facts`) and entry points."""

_discovered: list[bool] = []


def load_builtin_facts() -> None:
    """Import every module of the :mod:`checks.facts` package and register its ``FACT``."""
    if _discovered:
        return
    for info in pkgutil.iter_modules(checks.facts.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{BUILTIN_PACKAGE}.{info.name}")
        found = getattr(module, "FACT", None)
        if not isinstance(found, Fact) or found.name != info.name:
            raise FactError(f"{module.__name__} must define FACT = fact({info.name!r}, ...)")
        FACTS.add(found.name, found)
    _discovered.append(True)


class Facts:
    """The facts of one machine: parsed values by fact, the texts they came from, and errors.

    Immutable: :meth:`with_value` and :meth:`merged` return new containers. ``name in facts``
    is true when the fact has a value; iterating yields the names of those facts.
    """

    __slots__ = ("_errors", "_raw", "_sources", "_values")

    def __init__(self) -> None:
        self._values: dict[str, object] = {}
        self._raw: dict[str, str] = {}
        self._errors: dict[str, str] = {}
        self._sources: dict[str, str] = {}

    @classmethod
    def from_texts(
        cls,
        texts: Mapping[str, str],
        *,
        errors: Mapping[str, str] | None = None,
        source: str = "online",
        known: Iterable[Fact[object]] = (),
    ) -> Facts:
        """Parse each text with its fact (``known`` first, then the registry :data:`FACTS`).

        A parser that raises, or a name no fact has, becomes an error for that fact; ``errors``
        names facts that were not collected at all (probe exit status, time-out).
        """
        load_builtin_facts()
        definitions = {f.name: f for f in known}
        out = cls()
        for name, text in texts.items():
            out._raw[name] = text
            definition = definitions.get(name) or (FACTS.get(name) if name in FACTS else None)
            if definition is None:
                out._errors[name] = f"fact {name}: no such fact is defined"
                continue
            try:
                out._values[name] = definition.parse(text)
            except Exception as exc:  # a parser bug or odd output must not end the run
                out._errors[name] = (
                    f"fact {name}: cannot parse its output ({type(exc).__name__}: {exc})"
                )
                continue
            out._sources[name] = source
        for name, reason in (errors or {}).items():
            if name not in out._values:
                out._errors[name] = reason
        return out

    def _copy(self) -> Facts:
        twin = Facts()
        twin._values, twin._raw = dict(self._values), dict(self._raw)
        twin._errors, twin._sources = dict(self._errors), dict(self._sources)
        return twin

    def with_value(self, fact: Fact[T], value: T, source: str) -> Facts:
        """A copy in which ``fact`` has ``value`` (supplied by ``source``)."""
        twin = self._copy()
        twin._values[fact.name] = value
        twin._sources[fact.name] = source
        twin._errors.pop(fact.name, None)
        return twin

    def merged(self, other: Facts) -> Facts:
        """A copy with ``other``'s facts added; where both have a fact, ``other``'s wins. An error
        stays only for a fact that neither has a value for."""
        twin = self._copy()
        twin._values.update(other._values)
        twin._raw.update(other._raw)
        twin._sources.update(other._sources)
        twin._errors.update(other._errors)
        twin._errors = {k: v for k, v in twin._errors.items() if k not in twin._values}
        return twin

    def get(self, fact: Fact[T]) -> T | None:
        """The value of ``fact``, or None when it was not collected (see :attr:`errors`)."""
        return cast("T | None", self._values.get(fact.name))

    def require(self, fact: Fact[T]) -> T:
        """The value of ``fact``; :class:`MissingFactError` when it was not collected (for a
        check's only fact: :meth:`checks.model.Check.run` evaluates only with it present)."""
        if fact.name not in self._values:
            # a recorded reason names the fact already ("probe X timed out", "fact X: …")
            raise MissingFactError(self._errors.get(fact.name, f"fact {fact.name}: not collected"))
        return cast("T", self._values[fact.name])

    def __contains__(self, name: object) -> bool:
        key = name.name if isinstance(name, Fact) else name
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Facts({', '.join(sorted(self._values))}; errors: {', '.join(self._errors)})"

    @property
    def raw(self) -> Mapping[str, str]:
        """The texts as collected, by fact name (for probe-output files and recordings)."""
        return MappingProxyType(self._raw)

    @property
    def errors(self) -> Mapping[str, str]:
        """Why a fact has no value: probe exit status, time-out or parse error (one line)."""
        return MappingProxyType(self._errors)

    @property
    def sources(self) -> Mapping[str, str]:
        """Where each value came from: ``online``, ``offline``, ``recorded``, ``harness``."""
        return MappingProxyType(self._sources)
