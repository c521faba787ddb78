"""`callscope rules …`: the supervisor alert rules, and overrides kept in PostgreSQL.
`callscope teams …`: the team directory behind Supervisor.WatchFloor(team).

The rules ship as `data/alert_rules.yaml`; an override changes a rule's enabled flag,
severity, cool-down, title or parameters (or adds a rule of an existing type) without a
release. Running analyzers pick overrides up within CALLSCOPE_ANALYZER_RULES_RELOAD_S.
An override is validated against the rule schema before it is stored, so a typo is refused
here rather than ignored by the analyzers.

Database: --database-url, else CALLSCOPE_DATABASE_URL, else the local stack's (stack.json).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import psycopg
import typer
import yaml
from psycopg_pool import AsyncConnectionPool

from callscope_core.cli_support import actor_or_exit, stack_endpoint
from callscope_core.db import migrate, open_pool

from .domain.categories import CATEGORIES_DATA
from .domain.rules import RuleConfigError, RuleSet
from .domain.teams import TeamError, define_team
from .rule_overrides import LiveRules, RuleOverrideStore, merge_overrides
from .team_directory import TeamDirectory

app = typer.Typer(
    help="Supervisor alert rules: the YAML in the repository and overrides in PostgreSQL.",
    no_args_is_help=True,
)

DatabaseOption = typer.Option(
    None,
    "--database-url",
    envvar="CALLSCOPE_DATABASE_URL",
    help="PostgreSQL URL (default: the local stack's).",
)
JsonOption = typer.Option(False, "--json", help="Machine-readable output.")
ByOption = typer.Option(
    None, "--by", envvar="CALLSCOPE_ACTOR", help="Who changes the rule (stored with it)."
)
T = TypeVar("T")


def resolve_database(url: str | None) -> str:
    if url:
        return url
    database = stack_endpoint("database_url")
    if database is not None:
        return str(database)
    typer.echo(
        "error: no database: give --database-url (or CALLSCOPE_DATABASE_URL),"
        " or start the local stack",
        err=True,
    )
    raise typer.Exit(3)


def _run(url: str | None, work: Callable[[RuleOverrideStore], Awaitable[T]]) -> T:
    return _with_pool(url, lambda pool: work(RuleOverrideStore(pool)))


def _with_pool(url: str | None, work: Callable[[AsyncConnectionPool], Awaitable[T]]) -> T:
    database = resolve_database(url)

    async def main() -> T:
        # The analyzer's migrations are idempotent: the table exists even before a first start.
        await migrate(database, "analyzer", "callscope_analyzer")
        pool = await open_pool(database, 1)
        try:
            return await work(pool)
        finally:
            await pool.close()

    try:
        return asyncio.run(main())
    except (psycopg.OperationalError, OSError) as exc:
        typer.echo(f"error: database unreachable ({exc})", err=True)
        raise typer.Exit(3) from None


def _flagged_categories() -> frozenset[str]:
    """Categories flagged in categories.yaml (read without loading the embedding model)."""
    doc = yaml.safe_load(CATEGORIES_DATA.read_bytes()) or {}
    entries = doc.get("categories") or {}
    return frozenset(
        str(name)
        for name, spec in entries.items()
        if isinstance(spec, Mapping) and spec.get("flagged") is True
    )


def effective_rules(overrides: Mapping[str, Mapping[str, Any]]) -> RuleSet:
    """The rules the analyzers apply with these stored overrides (raises RuleConfigError)."""
    return LiveRules(None, flagged_categories=_flagged_categories()).build(overrides)


def _parse_param(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise typer.BadParameter(f"--param expects name=value, got {text!r}")
    try:
        return name.strip(), yaml.safe_load(raw)  # 3 -> int, null -> None, [a, b] -> list
    except yaml.YAMLError as exc:
        raise typer.BadParameter(f"--param {name}: unreadable value {raw!r} ({exc})") from None


@app.command("list")
def list_rules(
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """The rules as the analyzers apply them (YAML + overrides)."""
    stored = _run(database_url, lambda store: store.all())
    try:
        rules = effective_rules({o.rule: o.override for o in stored})
    except RuleConfigError as exc:
        typer.echo(f"error: stored overrides do not validate: {exc}", err=True)
        raise typer.Exit(2) from None
    by_rule = {o.rule: o for o in stored}
    rows = []
    for rule in rules.rules:
        override = by_rule.get(rule.name)
        rows.append(
            {
                "rule": rule.name,
                "type": rule.type,
                "enabled": rule.enabled,
                "severity": rule.severity,
                "cooldown_ms": rule.cooldown_ms,
                "title": rule.title,
                "params": dict(rule.params),
                "override": override.override if override else None,
                "overridden_by": override.updated_by if override else None,
                "overridden_at": override.updated_at.isoformat() if override else None,
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        flag = "on " if row["enabled"] else "off"
        mark = f"  [override by {row['overridden_by']}]" if row["override"] else ""
        typer.echo(
            f"{row['rule']:20} {flag} {row['severity']:8} cooldown {row['cooldown_ms']:>7} ms"
            f"  {row['type']}{mark}"
        )
        params = ", ".join(f"{k}={json.dumps(v)}" for k, v in row["params"].items())
        typer.echo(f"{'':20} {params}")


@app.command("set")
def set_rule(
    rule: str = typer.Argument(..., help="Rule name (see `callscope rules list`)."),
    enabled: bool | None = typer.Option(None, "--enabled/--disabled", help="Switch on/off."),
    severity: str | None = typer.Option(None, help="info | warning | critical"),
    cooldown_ms: int | None = typer.Option(None, "--cooldown-ms", help="Cool-down, call time."),
    title: str | None = typer.Option(None, help="Title shown to supervisors."),
    rule_type: str | None = typer.Option(None, "--type", help="Type, for a new rule."),
    param: list[str] = typer.Option([], "--param", help="name=value (YAML value), repeatable."),
    database_url: str | None = DatabaseOption,
    by: str | None = ByOption,
) -> None:
    """Override a rule (merged into any override it already has)."""
    change: dict[str, Any] = {}
    for key, value in (
        ("enabled", enabled),
        ("severity", severity),
        ("cooldown_ms", cooldown_ms),
        ("title", title),
        ("type", rule_type),
    ):
        if value is not None:
            change[key] = value
    params = dict(_parse_param(p) for p in param)
    if params:
        change["params"] = params
    if not change:
        raise typer.BadParameter("nothing to change: give at least one option")
    actor = actor_or_exit(by)

    async def work(store: RuleOverrideStore) -> dict[str, Any]:
        stored = {o.rule: o.override for o in await store.all()}
        merged = merge_overrides({rule: stored.get(rule, {})}, {rule: change})[rule]
        effective_rules({**stored, rule: merged})  # raises RuleConfigError: nothing stored
        await store.put(rule, merged, actor)
        return merged

    try:
        merged = _run(database_url, work)
    except RuleConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{rule}: override {json.dumps(merged, ensure_ascii=False)} (by {actor})")


@app.command("reset")
def reset_rule(
    rule: str | None = typer.Argument(None, help="Rule name; omit with --all."),
    every: bool = typer.Option(False, "--all", help="Remove every override."),
    database_url: str | None = DatabaseOption,
) -> None:
    """Back to the YAML for one rule (or every rule with --all)."""
    if (rule is None) == (not every):
        raise typer.BadParameter("name one rule, or use --all")
    removed = _run(database_url, lambda store: store.delete(None if every else rule))
    if not removed and rule is not None:
        typer.echo(f"error: rule {rule!r} has no override", err=True)
        raise typer.Exit(4)
    typer.echo(f"removed {removed} override(s)")


teams_app = typer.Typer(
    help="The team directory: which queues and agents each supervisor team follows on the floor.",
    no_args_is_help=True,
)


def _teams(url: str | None, work: Callable[[TeamDirectory], Awaitable[T]]) -> T:
    return _with_pool(url, lambda pool: work(TeamDirectory(pool)))


@teams_app.command("list")
def list_teams(
    database_url: str | None = DatabaseOption,
    as_json: bool = JsonOption,
) -> None:
    """Every team with its queues and agents."""
    stored = _teams(database_url, lambda directory: directory.all())
    rows = [
        {
            "team": s.team.name,
            "queues": sorted(s.team.queues),
            "agents": sorted(s.team.agents),
            "updated_by": s.updated_by,
            "updated_at": s.updated_at.isoformat(),
        }
        for s in stored
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no teams: add one with `callscope teams set TEAM --queue Q --agent A`")
    for row in rows:
        typer.echo(
            f"{row['team']:20} queues: {', '.join(row['queues']) or '-'};"
            f" agents: {', '.join(row['agents']) or '-'}  (by {row['updated_by']})"
        )


@teams_app.command("set")
def set_team(
    team: str = typer.Argument(..., help="Team name."),
    queue: list[str] = typer.Option([], "--queue", help="A queue the team owns, repeatable."),
    agent: list[str] = typer.Option([], "--agent", help="An agent of the team, repeatable."),
    database_url: str | None = DatabaseOption,
    by: str | None = ByOption,
) -> None:
    """Create a team or replace its members (floor streams opened afterwards use them)."""
    try:
        defined = define_team(team, queue, agent)
    except TeamError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    actor = actor_or_exit(by)
    _teams(database_url, lambda directory: directory.put(defined, actor))
    typer.echo(
        f"{defined.name}: {len(defined.queues)} queue(s), {len(defined.agents)} agent(s)"
        f" (by {actor})"
    )


@teams_app.command("remove")
def remove_team(
    team: str = typer.Argument(..., help="Team name."),
    database_url: str | None = DatabaseOption,
) -> None:
    """Remove a team from the directory."""
    if not _teams(database_url, lambda directory: directory.delete(team)):
        typer.echo(f"error: no team {team!r}", err=True)
        raise typer.Exit(4)
    typer.echo(f"removed team {team}")
