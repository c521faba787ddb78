"""Alert-rule overrides in PostgreSQL: `callscope rules list|set|reset` against a real database,
validation before anything is stored, and running analyzers (LiveRules) picking a change up
after their reload interval, without a restart, while a bad stored override is ignored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from typer.testing import CliRunner

from callscope_analyzer.cli import app as rules_cli
from callscope_analyzer.domain.keywords import match_keywords
from callscope_analyzer.domain.rules import CallState, UtteranceRecord, evaluate
from callscope_analyzer.rule_overrides import LiveRules, RuleOverrideStore, merge_overrides
from callscope_core.db import migrate, open_pool

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(database: str) -> AsyncIterator[RuleOverrideStore]:
    await migrate(database, "analyzer", "callscope_analyzer")
    pool = await open_pool(database, 2)
    yield RuleOverrideStore(pool)
    await pool.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def threat_call() -> CallState:
    state = CallState("c1")
    text = "I'm calling my lawyer."
    state.add_utterance(
        UtteranceRecord(
            channel="customer",
            utterance_no=0,
            version=1,
            start_ms=5000,
            end_ms=7000,
            text=text,
            language="en",
            sentiment_label="negative",
            sentiment_score=-0.6,
            keywords={k: tuple(v) for k, v in match_keywords(text, "en").items()},
        )
    )
    return state


def test_merge_overrides_later_layers_win_param_by_param() -> None:
    merged = merge_overrides(
        {"negative_streak": {"severity": "info", "params": {"count": 4, "max_score": -0.3}}},
        {"negative_streak": {"severity": "critical", "params": {"count": 5}}},
    )
    assert merged == {
        "negative_streak": {"severity": "critical", "params": {"count": 5, "max_score": -0.3}}
    }


async def test_running_analyzer_applies_overrides_after_its_reload_interval(
    store: RuleOverrideStore,
) -> None:
    clock = Clock()
    live = LiveRules(store, ttl_s=5.0, clock=clock)
    rules = await live.current()
    assert rules.get("legal_threat").enabled  # type: ignore[union-attr]
    assert live.version == "yaml"
    assert [d.rule for d in evaluate(threat_call(), 7000, rules)] == ["legal_threat"]

    await store.put("legal_threat", {"enabled": False}, "ops@example")
    await store.put("negative_streak", {"params": {"count": 5}}, "ops@example")
    assert (await live.current()).get("legal_threat").enabled  # type: ignore[union-attr]
    clock.now += 5.0  # the reload interval has passed: no restart needed
    rules = await live.current()
    assert not rules.get("legal_threat").enabled  # type: ignore[union-attr]
    assert rules.get("negative_streak").params["count"] == 5  # type: ignore[union-attr]
    assert rules.get("negative_streak").params["max_score"] == -0.2  # type: ignore[union-attr]
    assert evaluate(threat_call(), 7000, rules) == []
    with_overrides = live.version
    assert with_overrides.startswith("yaml+")

    # A bad override that reached the table (not through the CLI) is ignored, not fatal.
    await store.put("shouting", {"severity": "apocalyptic"}, "someone")
    clock.now += 5.0
    assert await live.current() is rules
    assert live.version == with_overrides
    await store.delete("shouting")
    await store.delete("legal_threat")
    clock.now += 5.0
    rules = await live.current()
    assert rules.get("legal_threat").enabled  # type: ignore[union-attr]
    assert rules.get("negative_streak").params["count"] == 5  # type: ignore[union-attr]


async def test_settings_overrides_sit_under_stored_ones(store: RuleOverrideStore) -> None:
    clock = Clock()
    live = LiveRules(
        store,
        settings_overrides={"human_request": {"params": {"threshold": 3}}},
        ttl_s=1.0,
        clock=clock,
    )
    assert (await live.current()).get("human_request").params["threshold"] == 3  # type: ignore[union-attr]
    await store.put("human_request", {"params": {"threshold": 4}}, "ops")
    clock.now += 1.0
    assert (await live.current()).get("human_request").params["threshold"] == 4  # type: ignore[union-attr]


def test_cli_list_set_reset(database: str) -> None:
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(
            rules_cli, [*args], env={"CALLSCOPE_DATABASE_URL": database, "CALLSCOPE_ACTOR": "ops"}
        )
        return result.exit_code, result.output

    code, out = run("list")
    assert code == 0 and "legal_threat" in out and "human_request" in out

    code, out = run("set", "legal_threat", "--disabled", "--cooldown-ms", "60000")
    assert code == 0, out
    code, out = run("set", "negative_streak", "--param", "count=5", "--severity", "critical")
    assert code == 0, out
    code, out = run("set", "legal_threat", "--severity", "info")  # merged into the first one
    assert code == 0, out
    code, out = run("list", "--json")
    rows = {r["rule"]: r for r in json.loads(out)}
    threat = rows["legal_threat"]
    assert (threat["enabled"], threat["cooldown_ms"], threat["severity"]) == (False, 60000, "info")
    assert threat["overridden_by"] == "ops"
    streak = rows["negative_streak"]
    assert streak["params"]["count"] == 5 and streak["severity"] == "critical"
    assert rows["shouting"]["override"] is None

    # Refused before anything is stored, with the rule and key named.
    code, out = run("set", "shouting", "--severity", "apocalyptic")
    assert code == 2 and "shouting" in out and "severity" in out
    code, out = run("set", "negative_streak", "--param", "count=0")
    assert code == 2 and "count" in out
    code, out = run("set", "no_such_rule", "--disabled")
    assert code == 2 and "unknown rule" in out
    code, out = run("set", "second_threat", "--type", "keyword", "--param", "kind=cancellation")
    assert code == 0, out  # a new rule of an existing type
    rows = {r["rule"]: r for r in json.loads(run("list", "--json")[1])}
    assert rows["shouting"]["override"] is None and rows["negative_streak"]["params"]["count"] == 5
    assert rows["second_threat"]["type"] == "keyword"

    code, out = run("reset", "legal_threat")
    assert code == 0 and "removed 1" in out
    code, out = run("reset", "legal_threat")
    assert code == 4
    code, out = run("reset")
    assert code == 2
    code, out = run("reset", "--all")
    assert code == 0 and "removed 2" in out
    rows = {r["rule"]: r for r in json.loads(run("list", "--json")[1])}
    assert rows["legal_threat"]["enabled"] and "second_threat" not in rows
