"""`python -m callscope_transcriber`: run the transcriber until SIGTERM."""

from __future__ import annotations

from callscope_core import service
from callscope_core.settings import CoreSettings, load_settings

from .settings import TranscriberSettings


def main() -> None:
    core = load_settings(CoreSettings)
    settings = load_settings(TranscriberSettings)
    from .app import run

    service.run(lambda stop: run(core, settings, stop))


if __name__ == "__main__":
    main()
