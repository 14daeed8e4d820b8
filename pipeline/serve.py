"""`ledgerline serve`: the scheduler sidecar and the Streamlit app, as two child processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline import cli, db

ROOT = Path(__file__).resolve().parents[1]


def serve(data: str, *, port: int = 8501, scheduler: bool = True, address: str = "localhost") -> int:
    """Start the sidecar (when the scheduler exists) and the app; stop both when either ends."""
    data_path = db.data_dir(data)
    env = {**os.environ, "LEDGERLINE_DATA": str(data_path)}
    children: list[subprocess.Popen] = []
    if scheduler and "pipeline.commands.scheduling" in cli.COMMAND_MODULES:
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "pipeline.cli", "--data", str(data_path), "scheduler"], env=env
            )
        )
    # Excel's Data > Refresh All reads an authenticated CSV feed; Streamlit has no raw routes, so
    # a small server beside the app serves it on the next port.
    feed = [
        "-m",
        "pipeline.cli",
        "--data",
        str(data_path),
        "feed-serve",
        "--port",
        str(port + 1),
        "--address",
        address,
    ]
    children.append(subprocess.Popen([sys.executable, *feed], env=env))
    app = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "app.py"),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    children.append(subprocess.Popen(app, env=env, cwd=ROOT))
    print(
        f"Ledgerline is running at http://{address}:{port}  (Excel feed on port {port + 1}; data: {data_path})",
        flush=True,
    )

    def stop(*_):
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
    return max((child.returncode or 0) for child in children) if children else 0
