"""`ledgerline` with the fake ERP registered, for tests that start real scheduler processes.

Run as a script. The scheduler's worker processes are started with multiprocessing 'spawn',
which re-imports this file as their main module, so they register the fake ERP as well.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.pipeline.scheduler.fake_source import register

register()

if __name__ == "__main__":
    from pipeline.cli import main

    sys.exit(main())
