"""Every Python snippet in README.md, integrations/dagster/README.md and docs/vault-api.md runs as written: its
`defs` are executed (assets and asset checks) against a real OpenBao and PostgreSQL, with the environment a
deployment gives (VAULT_ADDR and the AppRole files, nothing else)."""

import re
from pathlib import Path

import pytest
from dagster import DagsterInstance, Definitions

from vault_dagster.testing import database_engine

ROOT = Path(__file__).resolve().parents[3]
DOCS = ["README.md", "integrations/dagster/README.md", "docs/vault-api.md"]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def snippets():
    found = []
    for doc in DOCS:
        text = (ROOT / doc).read_text()
        for n, match in enumerate(FENCE.finditer(text), 1):
            line = text[: match.start()].count("\n") + 1
            found.append(pytest.param(doc, line, match.group(1), id=f"{doc}:{line}"))
    return found


def test_the_docs_have_snippets():
    counts = {doc: sum(1 for p in snippets() if p.values[0] == doc) for doc in DOCS}
    assert all(counts.values()), counts


@pytest.mark.parametrize("doc,line,code", snippets())
def test_snippet_runs(doc, line, code, bao, pipeline, pg):
    database_engine(bao, pg)
    bao.put_secret("dagster/warehouse", {"user": "etl", "password": "snippet-password"})
    bao.put_secret("dagster/api-keys", {"openai": "sk-snippet", "shopify": "shpat-snippet"})
    namespace = {"__name__": f"snippet_{line}"}
    exec(compile(code, f"{doc}:{line}", "exec"), namespace)
    defs = namespace.get("defs")
    assert isinstance(defs, Definitions), f"{doc}:{line} defines no Definitions named defs"
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success, [str(e.event_specific_data) for e in result.all_events if e.is_failure]
    for check in result.get_asset_check_evaluations():
        assert check.passed, f"{doc}:{line}: check {check.asset_check_key.name}: {check.description}"
