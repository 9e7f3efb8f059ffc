"""Times KV v2 reads with hvac and a reused session, the way Dagster users read secrets today.

Usage: python hvac_reads.py MOUNT PATH COUNT  (VAULT_ADDR, VAULT_TOKEN and optionally VAULT_CACERT from the env)
Prints one JSON object: {"latencies_ns": [...]} for COUNT reads after a warm-up.
"""

import json
import os
import sys
import time

import hvac


def main() -> None:
    mount, path, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    verify = os.environ.get("VAULT_CACERT") or True
    client = hvac.Client(url=os.environ["VAULT_ADDR"], token=os.environ["VAULT_TOKEN"], verify=verify)
    read = client.secrets.kv.v2.read_secret_version
    for _ in range(50):
        read(path=path, mount_point=mount, raise_on_deleted_version=True)
    latencies = []
    for _ in range(count):
        start = time.perf_counter_ns()
        answer = read(path=path, mount_point=mount, raise_on_deleted_version=True)
        latencies.append(time.perf_counter_ns() - start)
        assert answer["data"]["data"], "empty secret"
    json.dump({"latencies_ns": latencies}, sys.stdout)


if __name__ == "__main__":
    main()
