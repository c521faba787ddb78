"""SQL adapter for the team directory (`analyzer.teams`), edited with `callscope teams`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

from .domain.teams import Team


@dataclass(frozen=True)
class StoredTeam:
    team: Team
    updated_by: str
    updated_at: datetime


class TeamDirectory:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool

    async def _select(self, where: str = "", params: tuple[str, ...] = ()) -> list[StoredTeam]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT team, queues, agents, updated_by, updated_at FROM analyzer.teams"
                f" {where} ORDER BY team",
                params,
            )
            rows = await cur.fetchall()
        return [
            StoredTeam(
                Team(r["team"], frozenset(r["queues"]), frozenset(r["agents"])),
                r["updated_by"],
                r["updated_at"],
            )
            for r in rows
        ]

    async def all(self) -> list[StoredTeam]:
        return await self._select()

    async def get(self, name: str) -> Team | None:
        found = await self._select("WHERE team = %s", (name,))
        return found[0].team if found else None

    async def put(self, team: Team, by: str) -> None:
        """Create the team or replace its members."""
        async with self._pool.connection() as conn:
            await conn.execute(
                """
                INSERT INTO analyzer.teams (team, queues, agents, updated_by)
                VALUES (%s, %s, %s, %s)
                ON CONFLICT (team) DO UPDATE SET queues = EXCLUDED.queues,
                    agents = EXCLUDED.agents, updated_by = EXCLUDED.updated_by,
                    updated_at = now()
                """,
                (team.name, sorted(team.queues), sorted(team.agents), by),
            )

    async def delete(self, name: str) -> bool:
        async with self._pool.connection() as conn:
            cur = await conn.execute("DELETE FROM analyzer.teams WHERE team = %s", (name,))
            return cur.rowcount > 0
