"""Every ```python block of the README and docs/ runs on its own: in a fresh namespace (no name
from an earlier block), one process per page with the page's blocks in order in one scratch
folder (a page may read a file an earlier example wrote). Also: every command's --help lists its
settings with their comments."""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from neuralmd.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
#: Optional extras a block may import; the block is left out where the extra is not installed.
EXTRAS = ("openmm",)

RUNNER = """
import json, sys, traceback
for i, code in json.load(sys.stdin):
    try:
        exec(compile(code, f"block {i}", "exec"), {"__name__": "__main__"})
    except BaseException:
        print(f"python block {i} failed:", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
"""


def _runnable(code: str) -> bool:
    return not any(re.search(rf"^\s*(import|from) {m}\b", code, re.M) and importlib.util.find_spec(m) is None
                   for m in EXTRAS)


def test_the_docs_have_python_blocks() -> None:
    assert sum(len(BLOCK.findall(p.read_text())) for p in PAGES) >= 10


@pytest.mark.parametrize("page", [p for p in PAGES if BLOCK.search(p.read_text())], ids=lambda p: p.name)
def test_docs_python_blocks_run_alone(page: Path, tmp_path: Path) -> None:
    blocks = [(i, code) for i, code in enumerate(BLOCK.findall(page.read_text())) if _runnable(code)]
    proc = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(blocks), text=True,
                          capture_output=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, f"{page.name}: {proc.stderr[-2000:]}"


@pytest.mark.parametrize("command, words", [
    ("train", ["epochs: 30", "# future snapshots per random training window", "select_on:", "model/neuralmd_langevin.yaml",
               "data/synthetic.yaml", "val_fraction"]),
    ("evaluate", ["checkpoints: []", "# checkpoint.pt files or run folders"]),
    ("simulate", ["synthetic:K", "# snapshots to predict after the start"]),
    ("export", ["protein_atoms", ".dcd"]),
])
def test_command_help_lists_every_key_with_its_comment(command: str, words: list, capsys) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert all(w in out for w in words), [w for w in words if w not in out]


def test_help_follows_the_chosen_group_option(capsys) -> None:
    assert main(["train", "model=gnnmd", "--help"]) == 0
    out = capsys.readouterr().out
    assert "model/gnnmd.yaml" in out and "neuralmd.dynamics.GNNMD" in out and "neuralmd_ode.yaml" not in out
