"""cfn-lint must find nothing in template.yaml: no errors, no warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.template.cfn import ROOT, TEMPLATE

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def test_cfn_lint_finds_nothing():
    # cfn-lint applies the LanguageExtensions transform itself (Fn::ForEach with two stand-in
    # clusters, as ClusterNames has no default) and validates the SAM resources with SAM schemas.
    result = subprocess.run(
        [str(CFN_LINT), "--format", "parseable", str(TEMPLATE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")

