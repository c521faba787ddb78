"""Alert rules as they apply now: the YAML in the repository with overrides from PostgreSQL
(`analyzer.rule_overrides`, edited with `callscope rules set|reset`).

Running analyzers re-read the overrides at most every `ttl_s` seconds, so a change applies
without a restart. An override that does not validate is refused when it is set; should a bad
one reach the table anyway, the analyzer logs it and keeps the last good rules rather than
stop alerting.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from .domain.rules import RuleConfigError, RuleSet

log = logging.getLogger(__name__)


def merge_overrides(*layers: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Later layers win, key by key; `params` merge param by param."""
    merged: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for rule, override in layer.items():
            current = merged.setdefault(rule, {})
            for key, value in override.items():
                if key == "params" and isinstance(value, Mapping):
                    current["params"] = {**current.get("params", {}), **value}
                else:
                    current[key] = value
    return merged


@dataclass(frozen=True)
class StoredOverride:
    rule: str
    override: dict[str, Any]
    updated_by: str
    updated_at: datetime


class RuleOverrideStore:
    """SQL adapter for `analyzer.rule_overrides`."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def all(self) -> list[StoredOverride]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT rule, override, updated_by, updated_at FROM analyzer.rule_overrides"
                " ORDER BY rule"
            )
            rows = await cur.fetchall()
        return [
            StoredOverride(
                r["rule"],
                r["override"] if isinstance(r["override"], dict) else json.loads(r["override"]),
                r["updated_by"],
                r["updated_at"],
            )
            for r in rows
        ]

    async def put(self, rule: str, override: Mapping[str, Any], by: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO analyzer.rule_overrides (rule, override, updated_by)
                VALUES (%s, %s, %s)
                ON CONFLICT (rule) DO UPDATE SET override = EXCLUDED.override,
                    updated_by = EXCLUDED.updated_by, updated_at = now()
                """,
                (rule, json.dumps(override), by),
            )

    async def delete(self, rule: str | None) -> int:
        """Remove one rule's override, or every override with None; how many were removed."""
        async with self._pool.connection() as conn:
            if rule is None:
                cur = await conn.execute("DELETE FROM analyzer.rule_overrides")
            else:
                cur = await conn.execute(
                    "DELETE FROM analyzer.rule_overrides WHERE rule = %s", (rule,)
                )
            return cur.rowcount


class LiveRules:
    """The rule set the analyzer evaluates, refreshed from the override table on a short TTL."""

    def __init__(
        self,
        store: RuleOverrideStore | None,
        *,
        settings_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        flagged_categories: Iterable[str] = (),
        ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._settings_overrides = dict(settings_overrides or {})
        self._flagged = frozenset(flagged_categories)
        self._ttl_s = ttl_s
        self._clock = clock
        self._rules = self.build({})
        self._loaded_at: float | None = None
        self._applied: dict[str, dict[str, Any]] = {}
        self.version = self._version({})

    def build(self, stored: Mapping[str, Mapping[str, Any]]) -> RuleSet:
        """YAML, then the service's settings, then the stored overrides (raises
        RuleConfigError naming each bad rule and key)."""
        return RuleSet.load(
            overrides=merge_overrides(self._settings_overrides, stored),
            flagged_categories=self._flagged,
        )

    def _version(self, stored: Mapping[str, Mapping[str, Any]]) -> str:
        """Which rules raised an alert (SupervisorAlert.rule_version): "yaml" alone, or
        "yaml+" and a digest of the overrides in force."""
        layers = merge_overrides(self._settings_overrides, stored)
        if not layers:
            return "yaml"
        digest = hashlib.sha256(json.dumps(layers, sort_keys=True).encode()).hexdigest()[:12]
        return f"yaml+{digest}"

    async def current(self) -> RuleSet:
        now = self._clock()
        if self._store is None:
            return self._rules
        if self._loaded_at is not None and now - self._loaded_at < self._ttl_s:
            return self._rules
        self._loaded_at = now
        try:
            stored = {o.rule: o.override for o in await self._store.all()}
        except Exception as exc:  # the database is briefly unreachable: keep the last rules
            log.warning("alert-rule overrides not re-read (%s); keeping the last ones", exc)
            return self._rules
        if stored != self._applied:
            try:
                self._rules = self.build(stored)
                self.version = self._version(stored)
                log.info("alert rules reloaded with overrides for %s", sorted(stored) or "none")
            except RuleConfigError as exc:
                log.error("alert-rule overrides ignored, last good rules kept: %s", exc)
            self._applied = stored
        return self._rules
