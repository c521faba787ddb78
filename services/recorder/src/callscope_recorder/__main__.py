"""`python -m callscope_recorder`: run the recorder until SIGTERM (then drain live calls)."""

from __future__ import annotations

from callscope_core import service
from callscope_core.settings import CoreSettings, load_settings

from .settings import RecorderSettings


def main() -> None:
    core = load_settings(CoreSettings)
    settings = load_settings(RecorderSettings)
    from .app import run

    service.run(lambda stop: run(core, settings, stop))


if __name__ == "__main__":
    main()
