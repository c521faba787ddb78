"""Fixtures for the contract tests: the repository's tools, and the optional node tools.

The node tools (@asyncapi/parser and @bufbuild/buf, pinned in node-tools.json) are installed
with npm into .callscope/node-tools (git-ignored; CALLSCOPE_NODE_TOOLS overrides) the first time
a test needs them. Without node/npm those tests are skipped; every other check is pure Python.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NODE_TOOLS_SPEC = HERE / "node-tools.json"
NPM_INSTALL = ("install", "--ignore-scripts", "--no-package-lock", "--no-audit", "--no-fund")


def load_tool(name: str) -> ModuleType:
    """Import tools/<name>.py (the tools are scripts, not a package)."""
    tools = str(REPO / "tools")
    if tools not in sys.path:
        sys.path.insert(0, tools)
    return importlib.import_module(name)


def node_tools_dir() -> Path:
    return Path(os.environ.get("CALLSCOPE_NODE_TOOLS", REPO / ".callscope" / "node-tools"))


def _installed(directory: Path) -> bool:
    spec = directory / "package.json"
    return (
        spec.is_file()
        and spec.read_text() == NODE_TOOLS_SPEC.read_text()
        and (directory / "node_modules" / "@asyncapi" / "parser" / "package.json").is_file()
        and (directory / "node_modules" / ".bin" / "buf").exists()
    )


@pytest.fixture(scope="session")
def gen_asyncapi() -> ModuleType:
    return load_tool("gen_asyncapi")


@pytest.fixture(scope="session")
def release_protos() -> ModuleType:
    return load_tool("release_protos")


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """The folder whose node_modules has the pinned @asyncapi/parser and buf."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.skip(
            "node and npm are not installed, so the AsyncAPI parser and buf cannot run "
            "(apt-get install nodejs npm); the pure-Python contract checks still ran"
        )
    directory = node_tools_dir()
    if not _installed(directory):
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(NODE_TOOLS_SPEC, directory / "package.json")
        done = subprocess.run(
            [npm, *NPM_INSTALL, "--loglevel=error"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0 or not _installed(directory):
            pytest.fail(
                f"npm install of {NODE_TOOLS_SPEC.name} into {directory} failed "
                f"(exit {done.returncode}):\n{done.stderr[-3000:]}"
            )
    return directory


@pytest.fixture(scope="session")
def buf(request: pytest.FixtureRequest) -> str:
    """A buf binary: $BUF, buf on PATH, or the one npm installs with the node tools."""
    found = os.environ.get("BUF") or shutil.which("buf")
    if found:
        return found
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip(
            "buf is not installed (npm install @bufbuild/buf, or set BUF); "
            "test_proto_compat's Python checker covers the same rules"
        )
    tools: Path = request.getfixturevalue("node_tools")
    return str(tools / "node_modules" / ".bin" / "buf")
