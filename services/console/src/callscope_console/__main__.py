"""`python -m callscope_console`: run the supervisor console until SIGTERM."""

from __future__ import annotations

from callscope_core import service
from callscope_core.settings import ConfigurationError, CoreSettings, load_settings

from .settings import ConsoleSettings


def main() -> None:
    core = load_settings(CoreSettings)
    settings = load_settings(ConsoleSettings)
    from .app import load_users, run

    try:
        users = load_users(settings)
    except ValueError as exc:
        raise ConfigurationError(f"console users: {exc}") from None
    service.run(lambda stop: run(core, settings, users, stop))


if __name__ == "__main__":
    main()
