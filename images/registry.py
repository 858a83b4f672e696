"""Name → plugin registries, extended by third parties through entry points.

It lives in ``images``, the package every other one may import, so that ``checks``, ``reports``
and ``harness`` share one registry type without an upward import.

Modelled on pytest-testinfra's backend registry: built-ins register themselves on import, and an
entry-point group (for example ``vmcert.platforms``) adds third-party plugins on first lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownPluginError(LookupError):
    """A name was asked for that no built-in or entry point provides (a usage error)."""


class Registry(Generic[T]):
    """A mapping of names to plugins of one kind (platforms, checks, reporters)."""

    def __init__(
        self, kind: str, entry_point_group: str, *, builtins: Callable[[], object] | None = None
    ) -> None:
        """``builtins`` imports the built-in plugins (they register themselves); it runs once,
        before the first lookup or listing, so ``get`` finds a built-in without a prior import."""
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._items: dict[str, T] = {}
        self._builtins = builtins
        self._entry_points_loaded = False

    def add(self, name: str, item: T) -> T:
        """Register ``item`` under ``name``; a second registration of a name is a bug."""
        existing = self._items.get(name)
        if existing is not None and existing is not item:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._items[name] = item
        return item

    def remove(self, name: str) -> T:
        """Unregister ``name`` and return what it named (a plugin host unloading a plugin, or a
        test that must not leak its example into the rest of the process)."""
        return self._items.pop(name)

    def registered(self) -> dict[str, T]:
        """What is registered right now, without loading built-ins or entry points."""
        return dict(self._items)

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""

        def decorator(item: T) -> T:
            return self.add(name, item)

        return decorator

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        if self._builtins is not None:
            self._builtins()
        for ep in entry_points(group=self.entry_point_group):
            if ep.name not in self._items:
                self._items[ep.name] = ep.load()

    def get(self, name: str) -> T:
        """Return the plugin called ``name`` or raise a one-line error listing the known names."""
        if name not in self._items:
            self._load_entry_points()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise UnknownPluginError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        """All registered names, built-in and from entry points, sorted."""
        self._load_entry_points()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load_entry_points()
        return name in self._items

    def __iter__(self) -> Iterator[T]:
        self._load_entry_points()
        return iter([self._items[name] for name in sorted(self._items)])

    def __len__(self) -> int:
        self._load_entry_points()
        return len(self._items)
