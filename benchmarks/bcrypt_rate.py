"""The raw rate of bcrypt.checkpw at a cost, in N processes at once (one per core).

    python benchmarks/bcrypt_rate.py --cost 12 --seconds 10 --processes 2

Prints one JSON object: checks per second over all processes. The input is
what the CAS server checks (bcrypt over the base64 SHA-256 of the password),
so the sign-in benchmark can be compared with it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import multiprocessing
import time


def _worker(cost: int, seconds: float, start: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    import bcrypt

    password = base64.b64encode(hashlib.sha256(b"Bench-Password-2026!").digest())
    stored = bcrypt.hashpw(password, bcrypt.gensalt(rounds=cost))
    while time.time() < start:
        time.sleep(0.001)
    began = time.perf_counter()
    checks = 0
    while time.perf_counter() - began < seconds:
        if not bcrypt.checkpw(password, stored):
            raise SystemExit("bcrypt.checkpw failed")
        checks += 1
    out.put((checks, time.perf_counter() - began))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cost", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    # Every process hashes its own reference first (one bcrypt), then all start together.
    start = time.time() + 1.0 + 2 ** (args.cost - 12)
    procs = [
        multiprocessing.Process(target=_worker, args=(args.cost, args.seconds, start, queue))
        for _ in range(args.processes)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=args.seconds + 120) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)
    rate = sum(checks / elapsed for checks, elapsed in results)
    print(
        json.dumps(
            {
                "cost": args.cost,
                "processes": args.processes,
                "checks": sum(c for c, _ in results),
                "checks_per_second": rate,
            }
        )
    )


if __name__ == "__main__":
    main()
