"""The README's first-hour commands work as written: its curl example, run with curl itself against
a router seeded with examples/seed.yaml, is accepted and routed."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from adapters.seed import load_world, read
from tests.helpers import eventually, get_order

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def readme_curl() -> list[str]:
    """The README's curl example as an argument list (its backslash-continued lines joined)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^ +(curl [^\n]*\\\n(?:[^\n]*\\\n)*[^\n]*)$", text, re.M)
    assert match, "the README has no curl example"
    return shlex.split(match.group(1).replace("\\\n", " "))


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_curl_example_is_accepted_and_routed(api, worker, db):
    # Given a router seeded the way `orderrouter up` seeds an empty database
    load_world(read(str(REPO / "examples" / "seed.yaml")))
    # When the README's curl command runs as written (only the address is this test's)
    argv = [a.replace("http://127.0.0.1:8080", api) for a in readme_curl()]
    answer = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=30)
    # Then the order is accepted, and routed from the seeded stock
    assert answer.returncode == 0, answer.stderr
    order_id = re.search(r'"order_id":\s*"([^"]+)"', answer.stdout).group(1)
    order = eventually(lambda: (o := get_order(api, order_id))["routing"]["state"] != "received" and o,
                       what="routed")
    assert order["routing"]["state"] == "routed", order["routing"]
    assert order["channel_order_id"] == "PHONE-2026-0001" and order["payable"] == "899.00"
