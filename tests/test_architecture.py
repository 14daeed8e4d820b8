"""The dependency direction of ARCHITECTURE.md, checked on the source itself.

pages -> pipeline -> connectors -> connectors.base. Pages never import duckdb, SQL or a
connector; connectors never import duckdb, streamlit or pipeline (except pipeline.errors, the one
leaf module both sides share).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_pages_only_talk_to_pipeline():
    offenders = []
    for path in [ROOT / "app.py", *python_files("pages")]:
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in {"duckdb", "connectors"}:
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_connectors_do_not_reach_into_the_pipeline_or_the_warehouse():
    offenders = []
    for path in python_files("connectors"):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in {"duckdb", "streamlit"} or (top == "pipeline" and module != "pipeline.errors"):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []
