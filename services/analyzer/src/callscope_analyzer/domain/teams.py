"""Teams and the part of the floor a watcher follows.

A team is what a supervisor leads: agents (who may take calls of several queues) and, where a
team owns whole queues, those queues. A floor watcher asks for queues, a team, or both; a call
is in scope when its queue is wanted or its agent is one of the team's, and every later update
of a call in scope (its end, an acknowledgement) follows it even though those do not name the
agent.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

TEAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$")


class TeamError(ValueError):
    """A team definition that cannot be stored (the message says why)."""


@dataclass(frozen=True)
class Team:
    name: str
    queues: frozenset[str]
    agents: frozenset[str]


def define_team(name: str, queues: Iterable[str], agents: Iterable[str]) -> Team:
    """A validated team: a plain name and at least one queue or agent, none of them blank."""
    name = name.strip()
    if not TEAM_NAME.match(name):
        raise TeamError(
            f"team name {name!r}: 1-64 letters, digits or . _ : @ -, starting with a letter"
            " or digit"
        )
    members = {"queue": list(queues), "agent": list(agents)}
    for kind, values in members.items():
        if any(not v.strip() for v in values):
            raise TeamError(f"team {name}: a blank {kind}")
    if not members["queue"] and not members["agent"]:
        raise TeamError(f"team {name}: give at least one queue or agent")
    return Team(
        name,
        frozenset(v.strip() for v in members["queue"]),
        frozenset(v.strip() for v in members["agent"]),
    )


@dataclass
class FloorScope:
    """What one floor watcher follows; nothing asked for means every queue."""

    queues: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    remembered_calls: int = 50_000
    _calls: OrderedDict[str, None] = field(default_factory=OrderedDict)

    @property
    def everything(self) -> bool:
        return not self.queues and not self.agents

    def admits(self, queue: str, call_id: str, agent: str = "") -> bool:
        if self.everything:
            return True
        if queue in self.queues or (agent and agent in self.agents):
            self.follow(call_id)
            return True
        return call_id in self._calls

    def follow(self, call_id: str) -> None:
        """Keep following a call (bounded: the longest-known calls are forgotten first)."""
        self._calls[call_id] = None
        self._calls.move_to_end(call_id)
        while len(self._calls) > self.remembered_calls:
            self._calls.popitem(last=False)
