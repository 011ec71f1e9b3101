"""The webhooks baseline's sender, one process of it: `threads` httpx keep-alive clients
posting this process's share of the bodies, unsigned and unlogged, from `--start-at`.
Prints the wall-clock time it finished and how many answers were 2xx, as JSON."""

from __future__ import annotations

import argparse
import json
import threading
import time

import httpx


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", required=True)
    parser.add_argument("--part", type=int, required=True)
    parser.add_argument("--parts", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--start-at", type=float, required=True)
    args = parser.parse_args()
    with open(args.bodies) as f:
        bodies = [b.encode() for b in json.load(f)][args.part :: args.parts]
    ok = [0] * args.threads

    def post(i: int) -> None:
        with httpx.Client(headers={"content-type": "application/json"}) as client:
            while time.time() < args.start_at:
                time.sleep(0.001)
            for body in bodies[i :: args.threads]:
                if client.post(args.url, content=body).is_success:
                    ok[i] += 1

    threads = [threading.Thread(target=post, args=(i,)) for i in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"finished_at": time.time(), "ok": sum(ok)}))


if __name__ == "__main__":
    main()
