"""The client README's quickstart runs as written against the local stack (a newcomer's first ten lines)."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "clients" / "python" / "README.md"


def quickstart() -> str:
    section = README.read_text().split("## Quickstart", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_quickstart_is_ten_lines_of_code() -> None:
    lines = [line for line in quickstart().splitlines() if line.strip()]
    assert len(lines) <= 10, lines


def test_the_quickstart_spends_credits_against_the_local_stack(stack: Any) -> None:
    code = quickstart()
    assert 'BASE = "http://127.0.0.1:3000"' in code and '"alice"' in code
    user = f"alice-{uuid.uuid4().hex[:8]}"  # a new user each run, as a newcomer's alice is
    code = code.replace("http://127.0.0.1:3000", stack.base_url).replace('"alice"', f'"{user}"')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    transaction_id, available = out.stdout.split()
    assert transaction_id and int(available) == 2000 - 25 - 37
