"""`python -m callscope_analyzer`: run the analyzer until SIGTERM."""

from __future__ import annotations

from callscope_core import service
from callscope_core.settings import CoreSettings, load_settings

from .settings import AnalyzerSettings


def main() -> None:
    core = load_settings(CoreSettings)
    settings = load_settings(AnalyzerSettings)
    from .app import run

    service.run(lambda stop: run(core, settings, stop))


if __name__ == "__main__":
    main()
