"""A job of four independent ops for the multiprocess test (a module of its own: the executor's step processes
import it again). Each op reads a secret through the resource, records its own pid and its vault-env's, waits
until all four step processes are running, and then counts the pipeline tokens alive (as root, through the test
server's address in the environment), so the test sees four tokens at once and none after the run."""

import json
import os
import time
import urllib.request
from pathlib import Path

from dagster import OpExecutionContext, job, multiprocess_executor, op

from vault_dagster import VaultSecretsResource

STEPS = 4


def live_pipeline_tokens(addr: str, root: str) -> int:
    """How many tokens carrying the pipeline's policy are alive (root lists every accessor and looks each up)."""

    def call(method: str, path: str, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{addr}/v1/{path}", data=data, method=method)
        request.add_header("X-Vault-Token", root)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    count = 0
    for accessor in call("LIST", "auth/token/accessors")["data"]["keys"]:
        try:
            info = call("POST", "auth/token/lookup-accessor", {"accessor": accessor})["data"]
        except urllib.error.HTTPError:
            continue  # revoked between the list and the lookup
        if "dagster-secrets" in (info.get("policies") or []):
            count += 1
    return count


def _step(context: OpExecutionContext, vault: VaultSecretsResource, n: int) -> None:
    folder = Path(os.environ["MP_DIR"])
    value = vault.get_secret("secret/dagster/mp", key="k").get_secret_value()
    mine = {"step": n, "pid": os.getpid(), "vault_env_pid": vault._process.pid, "value_ok": value == "v"}
    (folder / f"step-{n}.json").write_text(json.dumps(mine))
    deadline = time.monotonic() + 120
    while len(list(folder.glob("step-*.json"))) < STEPS:
        if time.monotonic() > deadline:
            raise RuntimeError("the other steps never started")
        time.sleep(0.05)
    mine["live_tokens"] = live_pipeline_tokens(os.environ["MP_BAO_ADDR"], "root")
    (folder / f"done-{n}.json").write_text(json.dumps(mine))
    # Stay alive until every step has counted, so each count sees all four.
    while len(list(folder.glob("done-*.json"))) < STEPS:
        if time.monotonic() > deadline:
            raise RuntimeError("the other steps never finished counting")
        time.sleep(0.05)


@op
def step_1(context: OpExecutionContext, vault: VaultSecretsResource) -> None:
    _step(context, vault, 1)


@op
def step_2(context: OpExecutionContext, vault: VaultSecretsResource) -> None:
    _step(context, vault, 2)


@op
def step_3(context: OpExecutionContext, vault: VaultSecretsResource) -> None:
    _step(context, vault, 3)


@op
def step_4(context: OpExecutionContext, vault: VaultSecretsResource) -> None:
    _step(context, vault, 4)


@job(
    resource_defs={"vault": VaultSecretsResource()},
    executor_def=multiprocess_executor.configured({"max_concurrent": STEPS}),
)
def four_steps():
    step_1()
    step_2()
    step_3()
    step_4()
