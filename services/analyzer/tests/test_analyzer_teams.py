"""The team directory: which calls a team's floor follows (pure), and `callscope teams
list|set|remove` against a real PostgreSQL."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from callscope_analyzer.cli import teams_app
from callscope_analyzer.domain.teams import FloorScope, TeamError, define_team


def test_a_team_needs_a_plain_name_and_members() -> None:
    team = define_team(" billing-day ", [" billing "], ["agent-7"])
    assert (team.name, team.queues, team.agents) == ("billing-day", {"billing"}, {"agent-7"})
    assert define_team("night", [], ["agent-1"]).queues == frozenset()
    for name, queues, agents, reason in [
        ("", ["q"], [], "team name"),
        ("has space", ["q"], [], "team name"),
        ("-dash", ["q"], [], "team name"),
        ("empty", [], [], "at least one queue or agent"),
        ("blank", ["q", " "], [], "blank queue"),
        ("blank", [], [""], "blank agent"),
    ]:
        with pytest.raises(TeamError, match=reason):
            define_team(name, queues, agents)


def test_a_team_floor_follows_its_agents_calls_in_any_queue_to_their_end() -> None:
    scope = FloorScope(frozenset({"billing"}), frozenset({"agent-7"}))
    assert scope.admits("billing", "c1", "agent-2")  # the team's queue, any agent
    assert scope.admits("sales", "c2", "agent-7")  # the team's agent, another queue
    assert not scope.admits("sales", "c3", "agent-2")
    # A call's end and an acknowledgement name no agent: they follow the call.
    assert scope.admits("sales", "c2") and scope.admits("", "c2")
    assert not scope.admits("sales", "c3")


def test_no_queue_nor_team_is_every_call_and_memory_is_bounded() -> None:
    assert FloorScope().admits("anything", "c1")
    scope = FloorScope(agents=frozenset({"a"}), remembered_calls=2)
    for call in ("c1", "c2", "c3"):
        assert scope.admits("q", call, "a")
    assert not scope.admits("q", "c1") and scope.admits("q", "c3")


@pytest.mark.integration
def test_cli_list_set_remove(database: str) -> None:
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        env = {"CALLSCOPE_DATABASE_URL": database, "CALLSCOPE_ACTOR": "ops"}
        result = runner.invoke(teams_app, [*args], env=env)
        return result.exit_code, result.output

    code, out = run("list")
    assert code == 0 and "no teams" in out
    code, out = run("set", "billing-day", "--queue", "billing", "--agent", "a1", "--agent", "a2")
    assert code == 0 and "1 queue(s), 2 agent(s)" in out, out
    code, out = run("set", "night", "--agent", "a9")
    assert code == 0, out
    code, out = run("set", "billing-day", "--agent", "a3")  # replaces the members
    assert code == 0, out
    rows = {r["team"]: r for r in json.loads(run("list", "--json")[1])}
    assert (rows["billing-day"]["queues"], rows["billing-day"]["agents"]) == ([], ["a3"])
    assert rows["night"]["agents"] == ["a9"] and rows["night"]["updated_by"] == "ops"

    code, out = run("set", "nobody")
    assert code == 2 and "at least one queue or agent" in out
    code, out = run("set", "bad name", "--queue", "q")
    assert code == 2 and "team name" in out
    code, out = run("remove", "night")
    assert code == 0 and "removed team night" in out
    code, out = run("remove", "night")
    assert code == 4 and "no team" in out
    assert [r["team"] for r in json.loads(run("list", "--json")[1])] == ["billing-day"]
