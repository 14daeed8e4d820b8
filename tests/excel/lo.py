"""LibreOffice headless as the independent calculator: convert workbooks with a full recalculation.

LibreOffice trusts the values a workbook has cached unless told otherwise; a private profile sets
"recalculation on file load: always" for Excel files (OOXMLRecalcMode 0), so every formula is
computed again from the data. `test_recalculation_is_forced` proves it with planted wrong values.
Several files go through one soffice start (it takes seconds).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SETTINGS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    assert found, "LibreOffice (Debian libreoffice-calc) is needed to recalculate workbooks"
    return found


def recalculate(paths: list[Path], workdir: Path, folder: str = "recalculated") -> dict[Path, Path]:
    """Each workbook recalculated in full and saved as .xlsx (cached values = LibreOffice's) in
    workdir/folder."""
    names = [p.stem for p in paths]
    assert len(set(names)) == len(names), "file names must differ: the outputs share one folder"
    profile = workdir / "lo-profile"
    (profile / "user").mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(SETTINGS, encoding="utf-8")
    out = workdir / folder
    out.mkdir(exist_ok=True)
    done = subprocess.run(
        [
            soffice(),
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            "xlsx:Calc MS Excel 2007 XML",
            "--outdir",
            str(out),
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = {p: out / f"{p.stem}.xlsx" for p in paths}
    missing = [str(p) for p, r in result.items() if not r.is_file()]
    assert not missing, f"LibreOffice did not convert {missing}: {done.stdout} {done.stderr}"
    return result
