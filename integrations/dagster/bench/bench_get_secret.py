"""Benchmark: 1,000 get_secret calls through VaultSecretsResource (the vault-env stdio server), cached and
uncached, beside hvac with a reused session, in one run against one OpenBao dev server; the stdio round trip
alone (the `stats` request, answered without Vault); and the start-up cost `vault-env run` adds to the command
it wraps. Ratios are of p50s (the median is what a pipeline feels; the mean is reported too). The contenders are
timed in alternating blocks, so a shared machine's changing load does not favour whichever ran in a quiet moment.

    VAULT_ENV_BIN=target/release/vault-env BAO_BIN=... python bench/bench_get_secret.py [--calls 1000]

Prints one JSON object. Build vault-env with --release for numbers worth quoting.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hvac

from vault_dagster import VaultSecretsResource
from vault_dagster.testing import OpenBaoDevServer

PATH = "dagster/bench"


def summary(samples) -> dict:
    samples = sorted(samples)
    return {
        "calls": len(samples),
        "total_s": round(sum(samples), 4),
        "mean_us": round(statistics.mean(samples) * 1e6, 1),
        "p50_us": round(samples[len(samples) // 2] * 1e6, 1),
        "p99_us": round(samples[int(len(samples) * 0.99) - 1] * 1e6, 1),
    }


def interleaved(calls: int, contenders: dict, rounds: int = 20) -> dict:
    """Times every contender `calls` times, in `rounds` blocks taken in turn, so that a change in the machine's
    load during the run (other builds on a shared machine) falls on all of them alike."""
    for fn in contenders.values():
        fn()  # warm up: login, connection, mount lookup
    samples = {name: [] for name in contenders}
    block = max(1, calls // rounds)
    clock = time.perf_counter
    for _ in range(rounds):
        for name, fn in contenders.items():
            into = samples[name]
            for _ in range(block):
                start = clock()
                fn()
                into.append(clock() - start)
    return {name: summary(values) for name, values in samples.items()}


def process_ms(argv, env, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return round(statistics.median(samples) * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30, help="process starts timed for the run overhead")
    args = parser.parse_args()
    vault_env_bin, bao_bin = os.environ["VAULT_ENV_BIN"], os.environ["BAO_BIN"]

    with OpenBaoDevServer(bao_bin) as bao, tempfile.TemporaryDirectory() as tmp:
        bao.put_secret(PATH, {"user": "etl", "password": "bench-password"})
        creds = bao.pipeline_approle(Path(tmp) / "approle")
        common = dict(
            vault_addr=bao.addr,
            role_id_file=creds["role_id_file"],
            secret_id_file=creds["secret_id_file"],
            vault_env_bin=vault_env_bin,
        )
        results = {}

        cached = VaultSecretsResource(cache_ttl_seconds=300, **common)
        uncached = VaultSecretsResource(cache_ttl_seconds=0, **common)
        process = uncached._client()
        client = hvac.Client(url=bao.addr)
        client.auth.approle.login(
            role_id=Path(creds["role_id_file"]).read_text().strip(),
            secret_id=Path(creds["secret_id_file"]).read_text().strip(),
        )
        results.update(interleaved(args.calls, {
            "resource_cached": lambda: cached.get_secret(f"secret/{PATH}", key="password"),
            "resource_uncached": lambda: uncached.get_secret(f"secret/{PATH}", key="password"),
            # The pipe and JSON alone: `stats` is answered without Vault.
            "stdio_round_trip": lambda: process.request("stats"),
            "hvac_session": lambda: client.secrets.kv.v2.read_secret_version(
                path=PATH, mount_point="secret", raise_on_deleted_version=True
            )["data"]["data"]["password"],
        }))
        results["resource_cached"]["cache"] = cached.cache_stats()
        cached.close()
        uncached.close()

        base = results["hvac_session"]["p50_us"]
        results["speedup_vs_hvac_p50"] = {
            "cached": round(base / results["resource_cached"]["p50_us"], 1),
            "uncached": round(base / results["resource_uncached"]["p50_us"], 2),
        }
        results["targets"] = {
            "uncached_at_least_2x": results["speedup_vs_hvac_p50"]["uncached"] >= 2,
            "cached_at_least_20x": results["speedup_vs_hvac_p50"]["cached"] >= 20,
            "stdio_round_trip_p50_at_most_50us": results["stdio_round_trip"]["p50_us"] <= 50,
        }

        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env.update(VAULT_ADDR=bao.addr, VAULT_ROLE_ID_FILE=creds["role_id_file"], VAULT_SECRET_ID_FILE=creds["secret_id_file"])
        direct = process_ms(["true"], env, args.runs)
        wrapped = process_ms([vault_env_bin, "run", "-s", f"secret/{PATH}", "--", "true"], env, args.runs)
        token_env = dict(env, VAULT_TOKEN="root")
        del token_env["VAULT_ROLE_ID_FILE"], token_env["VAULT_SECRET_ID_FILE"]
        with_token = process_ms([vault_env_bin, "run", "-s", f"secret/{PATH}", "--", "true"], token_env, args.runs)
        results["run_overhead_ms"] = {
            "direct_median": direct,
            "approle_login_read_revoke_median": wrapped,
            "approle_added": round(wrapped - direct, 2),
            "token_read_median": with_token,
            "token_added": round(with_token - direct, 2),
        }
    json.dump(results, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
