"""Binder configuration (binder/): CPU-only torch, helpers installed, pins in sync."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def pins(path: Path) -> dict[str, str]:
    """``{package: version}`` for every ``name==version`` line of a requirements file."""
    out = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*==\s*([^\s;#]+)", line)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def test_binder_torch_is_the_cpu_build():
    text = (BINDER / "requirements.txt").read_text()
    assert f"--extra-index-url {CPU_INDEX}" in text.splitlines()
    assert pins(BINDER / "requirements.txt").get("torch") == pins(ROOT / "requirements.txt")["torch"]


def test_binder_pins_match_the_root_requirements():
    binder, root = pins(BINDER / "requirements.txt"), pins(ROOT / "requirements.txt")
    differ = {name: (version, root.get(name)) for name, version in binder.items()
              if root.get(name) != version}
    assert differ == {}, "binder/requirements.txt vs requirements.txt: (binder, root)"


def test_binder_installs_the_helpers():
    post = (BINDER / "postBuild").read_text()
    assert re.search(r"pip install .*-e \.", post), "postBuild must pip install -e ."
    assert (BINDER / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"
    assert "helpers" in (ROOT / "pyproject.toml").read_text()
