"""A settings section with its own rules, stored through ``storage/settings.py``.

Each section is a frozen dataclass with its defaults and a ``parse(dict)`` that
refuses a wrong value (ValueError with the reason); this adapter merges a change over
what is stored, checks it, stores it whole and tells the owner to apply it. It is the
API's ``SectionPort``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from dashboards.operations import OperationError
from storage.settings import SettingsStore

T = TypeVar("T")


class StoredSection(Generic[T]):
    def __init__(
        self,
        store: SettingsStore,
        key: str,
        parse: Callable[[dict[str, Any]], T],
        dump: Callable[[T], dict[str, Any]],
        *,
        extra: Callable[[T], Awaitable[dict[str, Any]]] | None = None,
        apply: Callable[[T], Awaitable[None]] | None = None,
    ):
        self._store = store
        self.key = key
        self._parse = parse
        self._dump = dump
        self._extra = extra
        self._apply = apply

    async def current(self) -> T:
        """The stored section over the defaults (a broken stored value reads as defaults)."""
        stored, _ = await self._store.get(self.key)
        try:
            return self._parse(stored)
        except ValueError:
            return self._parse({})

    async def get(self) -> dict[str, Any]:
        stored, revision = await self._store.get(self.key)
        try:
            value = self._parse(stored)
        except ValueError:
            value = self._parse({})
        out: dict[str, Any] = {"settings": self._dump(value), "revision": revision}
        if self._extra is not None:
            out.update(await self._extra(value))
        return out

    async def patch(self, changes: dict[str, Any]) -> dict[str, Any]:
        stored, _ = await self._store.get(self.key)
        try:
            value = self._parse({**stored, **changes})
        except ValueError as e:
            raise OperationError(422, "invalid_settings", str(e)) from None
        await self._store.put(self.key, self._dump(value))
        if self._apply is not None:
            await self._apply(value)
        return await self.get()
