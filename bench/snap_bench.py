#!/usr/bin/python3
"""Snapshot benchmark (docs/snap.md): create latency on an idle 3-node
cluster and while the bank workload runs, and export throughput and
memory on a few million keys.

    /usr/bin/python3 bench/snap_bench.py [--keys 2000000] [--creates 50]

Starts its own cluster (`dkv local start`, 3 nodes, 9 shards, durable
group commit) in a temporary directory on free 127.0.0.1 ports and stops
it at the end. The bank workload is `dkv-bench-txn --mode transfer` with
16 clients (two-key cross-shard transfers). Keys are loaded with
redis-benchmark (SET, pipelined, random keys over --keys). Export runs
`dkv snapshot export` twice, on a snapshot of a fifth of the keys and on
one of all of them, under /usr/bin/time: keys/s and peak RSS of each, so
one can see that memory does not grow with the number of keys.

Targets (issue 5): create under 100 ms idle and under 1 s under load;
export at least 200k keys/s with memory that does not grow with the keys.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("DKV_BIN", os.path.join(HERE, "..", "build", "bin"))


def free_port_block(n):
    """A base port with n free ports above it (best effort)."""
    for _ in range(50):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
        s.close()
        if base + 2 * n + 2 >= 65535:
            continue
        ok = True
        for p in range(base, base + 2 * n + 2):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                t.close()
            if not ok:
                break
        if ok:
            return base
    raise RuntimeError("no free port block")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def creates(c, n, prefix, gap=0.0):
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        c.execute_command("DKV.SNAPSHOT", "CREATE", "%s%04d" % (prefix, i))
        lat.append((time.perf_counter() - t0) * 1000.0)
        if gap:
            time.sleep(gap)
    return lat


def show(label, lat):
    print("%-28s n=%-4d p50 %7.2f ms   p99 %7.2f ms   max %7.2f ms" %
          (label, len(lat), statistics.median(lat), pct(lat, 99), max(lat)),
          flush=True)


def load(port, keys, total):
    subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port),
                    "-t", "set", "-n", str(total), "-r", str(keys),
                    "-P", "64", "-c", "8", "-d", "32", "-q"],
                   check=True, stdout=subprocess.DEVNULL)


def export(dkv, addr, name, outdir):
    """Runs an export under /usr/bin/time; (keys, seconds, peak RSS KiB)."""
    tfile = outdir + ".time"
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tfile, dkv,
                        "-h", addr, "snapshot", "export", name, outdir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    secs = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError("export failed: %s" % r.stderr.decode()[-400:])
    with open(tfile) as f:
        rss = int(f.read().strip().splitlines()[-1])
    with open(os.path.join(outdir, "manifest.json")) as f:
        man = json.load(f)
    nkeys = man.get("total_keys", man.get("keys"))
    if nkeys is None:
        nkeys = sum(s.get("keys", 0) for s in man.get("shards", []))
    return nkeys, secs, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=2000000)
    ap.add_argument("--creates", type=int, default=50)
    ap.add_argument("--no-export", action="store_true")
    args = ap.parse_args()
    dkv = os.path.join(BIN, "dkv")
    tdir = tempfile.mkdtemp(prefix="dkv-snapbench-")
    port = free_port_block(3)
    addr = "127.0.0.1:%d" % port
    env = dict(os.environ, DKVD=os.path.join(BIN, "dkvd"))
    subprocess.run([dkv, "local", "start", "--nodes", "3", "--dir",
                    tdir + "/c", "--port", str(port), "--shards", "9"],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    load_proc = None
    try:
        c = redis.Redis(host="127.0.0.1", port=port, socket_timeout=30)
        creates(c, 3, "warm")
        show("create, idle", creates(c, args.creates, "idle"))
        names = ["acct:%06d" % i for i in range(1000)]
        for i in range(0, len(names), 100):
            c.mset({k: 100 for k in names[i:i + 100]})
        load_proc = subprocess.Popen(
            [os.path.join(BIN, "dkv-bench-txn"), "--system", "dkv",
             "--addrs", ",".join("127.0.0.1:%d" % (port + i)
                                 for i in range(3)),
             "--mode", "transfer", "--clients", "16", "--seconds",
             str(max(10, args.creates // 5 + 8)), "--accounts", "1000"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(2)
        lat = creates(c, max(10, args.creates // 2), "load", gap=0.1)
        out = load_proc.communicate(timeout=120)[0].decode().strip()
        load_proc = None
        show("create, bank running", lat)
        print("   bank workload:", out.splitlines()[-1] if out else "?",
              flush=True)
        if args.no_export:
            return
        small = args.keys // 5
        load(port, small, small * 2)
        c.execute_command("DKV.SNAPSHOT", "CREATE", "export-small")
        load(port, args.keys, args.keys * 2)
        c.execute_command("DKV.SNAPSHOT", "CREATE", "export-big")
        for name in ("export-small", "export-big"):
            n, secs, rss = export(dkv, addr, name,
                                  os.path.join(tdir, "out-" + name))
            print("export %-13s %9d keys in %6.2f s = %8.0f keys/s, "
                  "peak RSS %6.1f MiB" % (name, n, secs, n / secs,
                                          rss / 1024.0), flush=True)
    finally:
        if load_proc is not None:
            load_proc.kill()
            load_proc.wait()
        subprocess.run([dkv, "local", "stop", "--dir", tdir + "/c"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
