"""The multiprocess executor: each step process starts its own vault-env and logs in with its own token, and
every token is revoked when its step ends, so none outlives the run."""

import json
from pathlib import Path

from dagster import DagsterInstance, execute_job
from dagster._core.definitions.reconstruct import ReconstructableJob

from multiprocess_job import STEPS, live_pipeline_tokens


def test_each_step_process_has_its_own_token_and_none_outlives_the_run(bao, pipeline, tmp_path, monkeypatch):
    bao.put_secret("dagster/mp", {"k": "v"})
    folder = tmp_path / "steps"
    folder.mkdir()
    monkeypatch.setenv("MP_DIR", str(folder))
    monkeypatch.setenv("MP_BAO_ADDR", bao.addr)
    # The step processes load the job again from its file.
    job = ReconstructableJob.for_file(str(Path(__file__).resolve().parent / "multiprocess_job.py"), "four_steps")
    assert live_pipeline_tokens(bao.addr, "root") == 0

    (tmp_path / "dagster").mkdir()
    with DagsterInstance.local_temp(str(tmp_path / "dagster")) as instance:
        result = execute_job(job, instance=instance)
        assert result.success, [e.message for e in result.all_events if e.is_failure]

    steps = [json.loads((folder / f"done-{n}.json").read_text()) for n in range(1, STEPS + 1)]
    assert all(s["value_ok"] for s in steps)
    assert len({s["pid"] for s in steps}) == STEPS, "one process per step"
    assert len({s["vault_env_pid"] for s in steps}) == STEPS, "one vault-env per step process"
    # While all four steps ran, four pipeline tokens were alive: one per step process.
    assert [s["live_tokens"] for s in steps] == [STEPS] * STEPS
    assert live_pipeline_tokens(bao.addr, "root") == 0, "every token was revoked at teardown"
