"""Fixtures shared by the whole suite: where the samples are, a fresh data folder, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "samples"


@pytest.fixture
def samples() -> Path:
    """../shared/samples beside the repository (CI has it there; it is never copied in)."""
    assert SAMPLES.is_dir(), f"expected the shared samples at {SAMPLES}"
    return SAMPLES


@pytest.fixture
def data(tmp_path) -> Path:
    """An empty data folder: the warehouse is created on first use."""
    path = tmp_path / "data"
    path.mkdir()
    return path


class Cli:
    """Runs `ledgerline` as a real subprocess against one data folder."""

    def __init__(self, data: Path):
        self.data = data

    def __call__(
        self, *args: str, env: dict | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "--data", str(self.data), *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            timeout=timeout,
        )

    def json(self, *args: str) -> dict | list:
        result = self(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def cli(data) -> Cli:
    return Cli(data)
