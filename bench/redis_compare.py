#!/usr/bin/python3
"""dkv against redis-server with redis-benchmark, side by side in one run.

Starts, on 127.0.0.1: a one-node dkv cluster (64 shards) in each durability
mode measured, redis-server with appendfsync always (durable like dkv's
group commit) and redis-server without persistence (like dkv with fsync
off). Runs redis-benchmark GET and SET, 50 clients, without and with
pipelining (-P 16), the systems interleaved and each cell repeated, then
prints medians and the ratios dkv/Redis. Also measures the extra cost of a
request routed through another node (2-node cluster, one client, p50
latency) and the resident memory of an idle node with 64 shards.

Usage: bench/redis_compare.py [--repeat N] [--requests N] [--quick]
Every process it starts is stopped at the end.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../tests/integration"))
from cluster import Cluster, free_ports, wait_until  # noqa: E402

import redis  # noqa: E402


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def bench(port, test, clients, requests, pipeline, key=None):
    cmd = ["redis-benchmark", "-p", str(port), "-t", test, "-n",
           str(requests), "-c", str(clients), "-P", str(pipeline), "--csv"]
    if key is None:
        cmd += ["-r", "100000"]
    out = subprocess.run(cmd, capture_output=True, text=True,
                         timeout=600).stdout
    for line in out.splitlines():
        f = [x.strip('"') for x in line.split(",")]
        if f and f[0] == test.upper():
            return float(f[1]), float(f[3])  # rps, p50 ms
    raise RuntimeError("no result from redis-benchmark: " + out)


class RedisServer:
    def __init__(self, durable):
        self.dir = tempfile.mkdtemp(prefix="dkv-redis-")
        self.port = free_ports(1)[0]
        args = ["redis-server", "--port", str(self.port), "--bind",
                "127.0.0.1", "--save", "", "--dir", self.dir]
        args += (["--appendonly", "yes", "--appendfsync", "always"]
                 if durable else ["--appendonly", "no"])
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_until(lambda: redis.Redis(port=self.port).ping(),
                   what="redis-server")

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.repeat, a.requests = 1, 5000

    systems, results = {}, {}
    try:
        systems["dkv-group"] = Cluster(n=1, shards=64,
                                       durability="group").__enter__()
        systems["dkv-none"] = Cluster(n=1, shards=64,
                                      durability="none").__enter__()
        systems["redis-always"] = RedisServer(durable=True)
        systems["redis-nosave"] = RedisServer(durable=False)
        port = {k: (v.nodes[0].port if isinstance(v, Cluster) else v.port)
                for k, v in systems.items()}
        idle_rss = rss_mib(systems["dkv-group"].nodes[0].proc.pid)
        cells = [(t, p) for t in ("set", "get") for p in (1, 16)]
        for rep in range(a.repeat):
            for test, pipe in cells:
                n = a.requests * (4 if pipe > 1 else 1)
                for name in systems:  # interleaved
                    rps, p50 = bench(port[name], test, 50, n, pipe)
                    results.setdefault((name, test, pipe), []).append(
                        (rps, p50))
                    print("  rep %d %-13s %-3s -P %-2d %10.0f req/s p50 "
                          "%.3f ms" % (rep + 1, name, test, pipe, rps, p50),
                          file=sys.stderr)
        busy_rss = rss_mib(systems["dkv-group"].nodes[0].proc.pid)

        def med(name, test, pipe):
            return statistics.median(r[0] for r in
                                     results[(name, test, pipe)])

        print("\nredis-benchmark, 50 clients, %d repeats, medians "
              "(req/s)" % a.repeat)
        print("%-10s %12s %12s %12s %12s %9s %9s" % (
            "cell", "dkv group", "redis always", "dkv none", "redis nosave",
            "ratio dur", "ratio mem"))
        for test, pipe in cells:
            dg, ra = med("dkv-group", test, pipe), med("redis-always", test,
                                                       pipe)
            dn, rn = med("dkv-none", test, pipe), med("redis-nosave", test,
                                                      pipe)
            print("%-10s %12.0f %12.0f %12.0f %12.0f %8.2fx %8.2fx" % (
                "%s -P%d" % (test.upper(), pipe), dg, ra, dn, rn, dg / ra,
                dn / rn))
        print("ratio dur = dkv (group commit, fsync) / Redis (appendfsync "
              "always); ratio mem = dkv (no fsync) / Redis (no persistence)")
        print("dkv node RSS: idle with 64 shards %.1f MiB, after the "
              "benchmark %.1f MiB" % (idle_rss, busy_rss))
    finally:
        for s in systems.values():
            s.close()

    # Routing: one key, one client, through its owner and through the
    # other node.
    with Cluster(n=2, shards=8, durability="group") as c2:
        c0 = c2.nodes[0].client()
        key = "key:__rand_int__"  # redis-benchmark's key without -r
        owner = int(c0.execute_command("DKV.SHARDOF", key)[1])
        c0.set(key, "x" * 3)
        by = {nd.id: nd.port for nd in c2.nodes}
        other = [i for i in by if i != owner][0]
        direct, routed = [], []
        for _ in range(max(a.repeat, 3)):
            direct.append(bench(by[owner], "get", 1, a.requests // 5, 1,
                                key=key)[1])
            routed.append(bench(by[other], "get", 1, a.requests // 5, 1,
                                key=key)[1])
        d, r = statistics.median(direct), statistics.median(routed)
        print("routing: GET p50 at the owner %.3f ms, through another node "
              "%.3f ms (+%.3f ms: one loopback round trip)" % (d, r, r - d))


if __name__ == "__main__":
    main()
