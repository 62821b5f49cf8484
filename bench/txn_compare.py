#!/usr/bin/python3
"""Two-key transfers on dkv against etcd, and dkv's single-shard fast path
against a plain SET: the transaction benchmark (bench/README.md).

Starts, on 127.0.0.1 in one run: a 3-node dkv cluster (48 shards, group
durability, the default) and etcd-server (Debian's /usr/bin/etcd, one
member, default settings: it fsyncs its WAL before it answers a write).
Loads the same accounts into both, then runs the C load generator
dkv-bench-txn for each system, mode and client count (1, 16, 64), the
systems interleaved and the whole round repeated (--repeat), and prints
the medians with the ratios dkv/etcd and the fast-path ratio. At the end it
checks that the accounts still hold the sum they were loaded with, on both
systems: a benchmark must not hide a correctness bug. Exit status: 0, 1 if
a run failed or a sum moved, 77 (skipped) if etcd is not installed. Speed
never fails it.

Usage: bench/txn_compare.py [--repeat N] [--seconds S] [--accounts N]
                            [--clients 1,16,64] [--quick] [--bench-bin PATH]
dkvd is $DKVD (default build/bin/dkvd); the load generator is --bench-bin,
else $DKV_BENCH_TXN, else dkv-bench-txn next to dkvd. Every process it
starts is stopped at the end, by its PID.
"""
import argparse
import base64
import ctypes
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/integration"))
import cluster  # noqa: E402
from cluster import Cluster, free_ports, wait_until  # noqa: E402

SKIP = 77  # ctest's SKIP_RETURN_CODE
ETCD = os.environ.get("ETCD", "/usr/bin/etcd")
PREFIX = "acct:"
BALANCE = 1000
# (system, mode), run in this order (reversed on odd repetitions).
CELLS = [("dkv", "transfer"), ("etcd", "transfer"), ("dkv", "blind"),
         ("dkv", "fastpath"), ("dkv", "set")]


def b64(s):
    return base64.b64encode(s.encode()).decode()


def acct(i):
    return "%s%06d" % (PREFIX, i)


def die_with_parent():
    # etcd must not outlive this script if it is killed (ctest timeout).
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Etcd:
    """One etcd member on free loopback ports, data in a temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dkv-etcd-")
        cport, pport = free_ports(2)
        self.addr = "127.0.0.1:%d" % cport
        peer = "http://127.0.0.1:%d" % pport
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("ETCD_")}
        self.log = open(os.path.join(self.dir, "etcd.log"), "ab")
        self.proc = subprocess.Popen(
            [ETCD, "--name", "bench",
             "--data-dir", os.path.join(self.dir, "data"),
             "--listen-client-urls", "http://" + self.addr,
             "--advertise-client-urls", "http://" + self.addr,
             "--listen-peer-urls", peer,
             "--initial-advertise-peer-urls", peer,
             "--initial-cluster", "bench=" + peer,
             "--initial-cluster-state", "new"],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL,
            env=env, preexec_fn=die_with_parent)
        wait_until(lambda: "header" in self.post("/v3/kv/range",
                                                 {"key": b64("x")}),
                   timeout=30, what="etcd")

    def post(self, path, obj):
        req = urllib.request.Request(
            "http://%s%s" % (self.addr, path), data=json.dumps(obj).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print("etcd (pid %d) ignored SIGTERM: killed" % self.proc.pid,
                      file=sys.stderr)
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def load(cl, etcd, n):
    names = [acct(i) for i in range(n)]
    c = cl.nodes[0].client()
    for i in range(0, n, 100):
        assert c.mset({k: BALANCE for k in names[i:i + 100]})
        r = etcd.post("/v3/kv/txn", {"success": [
            {"request_put": {"key": b64(k), "value": b64(str(BALANCE))}}
            for k in names[i:i + 100]]})
        assert r.get("succeeded"), r


def dkv_sum(cl, n):
    """Sums read in one transaction (MULTI/MGET/EXEC) at node 1 and by a
    plain MGET at node 2: (sum, sum, problems)."""
    names = [acct(i) for i in range(n)]
    problems = []
    p = cl.nodes[0].client().pipeline(transaction=True)
    p.mget(names)
    tx = p.execute()[0]
    plain = cl.nodes[1 % len(cl.nodes)].client().mget(names)
    sums = []
    for what, vals in (("MULTI/MGET/EXEC", tx), ("MGET", plain)):
        missing = [k for k, v in zip(names, vals) if v is None]
        if missing:
            problems.append("dkv %s: %d accounts missing (%s...)" % (
                what, len(missing), missing[0]))
        sums.append(sum(int(v) for v in vals if v is not None))
    return sums[0], sums[1], problems


def etcd_sum(etcd, n):
    r = etcd.post("/v3/kv/range", {"key": b64(PREFIX),
                                   "range_end": b64(PREFIX[:-1] + chr(
                                       ord(PREFIX[-1]) + 1))})
    kvs = r.get("kvs", [])
    total = sum(int(base64.b64decode(kv["value"])) for kv in kvs)
    problems = []
    if len(kvs) != n:
        problems.append("etcd: %d accounts instead of %d" % (len(kvs), n))
    return total, problems


def dkv_txn_info(cl):
    out = []
    for nd in cl.nodes:
        info = nd.client().info("Transactions")
        out.append((nd.id, info))
    return out


def run_bench(binary, system, addrs, mode, clients, seconds, accounts, seed):
    cmd = [binary, "--system", system, "--addrs", addrs, "--mode", mode,
           "--clients", str(clients), "--seconds", str(seconds),
           "--accounts", str(accounts), "--seed", str(seed), "--json"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True,
                           timeout=seconds + 180)
    except subprocess.TimeoutExpired:
        return None, "timed out: " + " ".join(cmd)
    if p.stderr:
        sys.stderr.write(p.stderr)
    res = None
    for line in p.stdout.splitlines():
        if line.startswith("{"):
            res = json.loads(line)
    if p.returncode != 0 or res is None:
        return res, "exit %d: %s\n%s" % (p.returncode, " ".join(cmd),
                                         p.stderr.strip())
    return res, None


def main():
    ap = argparse.ArgumentParser(
        description="dkv transfers against etcd (bench/README.md)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0,
                    help="duration of each run (default 5)")
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--clients", default="1,16,64")
    ap.add_argument("--quick", action="store_true",
                    help="one repetition of 1 s runs: a smoke test")
    ap.add_argument("--bench-bin", default=None)
    a = ap.parse_args()
    if a.quick:
        a.repeat, a.seconds = 1, 1.0
    counts = [int(x) for x in a.clients.split(",")]

    if not os.access(ETCD, os.X_OK):
        print("SKIP: %s not found: install Debian's etcd-server "
              "(scripts/deps.sh) to run the transaction benchmark against "
              "etcd" % ETCD)
        return SKIP
    binary = (a.bench_bin or os.environ.get("DKV_BENCH_TXN") or
              os.path.join(os.path.dirname(cluster.DKVD), "dkv-bench-txn"))
    for what, path in (("dkvd", cluster.DKVD), ("dkv-bench-txn", binary)):
        if not os.access(path, os.X_OK):
            print("%s not found at %s (build it; see --help)" % (what, path),
                  file=sys.stderr)
            return 1

    # SIGTERM runs the finally blocks below, like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ver = subprocess.run([ETCD, "--version"], capture_output=True,
                         text=True).stdout.splitlines()
    results, failures, problems = {}, [], []
    cl = etcd = None
    total = a.accounts * BALANCE
    try:
        cl = Cluster(n=3, shards=48, durability="group").__enter__()
        etcd = Etcd()
        load(cl, etcd, a.accounts)
        addrs = ",".join(nd.addr for nd in cl.nodes)
        t_start = time.time()
        for rep in range(a.repeat):
            cells = CELLS if rep % 2 == 0 else CELLS[::-1]
            for n in counts:
                for system, mode in cells:
                    res, err = run_bench(
                        binary, system,
                        addrs if system == "dkv" else etcd.addr, mode, n,
                        a.seconds, a.accounts, 1000 * rep + n)
                    if err:
                        failures.append(err)
                        print("FAILED: " + err, file=sys.stderr)
                    if res is None:
                        continue
                    results.setdefault((system, mode, n), []).append(res)
                    print("  rep %d %-4s %-8s %2d clients %8.0f/s p50 %7.2f "
                          "ms p99 %7.2f ms aborts %5.2f%% errors %d" % (
                              rep + 1, system, mode, n, res["tput"],
                              res["p50_us"] / 1000, res["p99_us"] / 1000,
                              100 * res["abort_rate"], res["errors"]),
                          file=sys.stderr)
        elapsed = time.time() - t_start

        # Correctness: every transfer kept the sum, on both systems.
        time.sleep(0.5)
        s_tx, s_plain, p = dkv_sum(cl, a.accounts)
        problems += p
        for what, s in (("MULTI/MGET/EXEC at node 1", s_tx),
                        ("MGET at node 2", s_plain)):
            if s != total:
                problems.append("dkv: sum of the accounts (%s) is %d, "
                                "loaded %d" % (what, s, total))
        s_etcd, p = etcd_sum(etcd, a.accounts)
        problems += p
        if s_etcd != total:
            problems.append("etcd: sum of the accounts is %d, loaded %d" %
                            (s_etcd, total))
        info = dkv_txn_info(cl)
        # Shut down gracefully: a node that ignores SIGTERM is a finding.
        for nd in cl.nodes:
            try:
                nd.stop()
            except subprocess.TimeoutExpired:
                problems.append("dkvd node %d (pid %d) did not stop within "
                                "20 s of SIGTERM" % (nd.id, nd.proc.pid))
    finally:
        if etcd:
            etcd.close()
        if cl:
            cl.close()

    report(a, counts, results, ver, elapsed, total, s_tx, s_plain, s_etcd,
           info)
    for f in failures:
        print("FAILED RUN: " + f.splitlines()[0])
    for p in problems:
        print("PROBLEM: " + p)
    if failures or problems:
        return 1
    print("sums: dkv %d (transaction) and %d (MGET), etcd %d, loaded %d: "
          "unchanged" % (s_tx, s_plain, s_etcd, total))
    return 0


def report(a, counts, results, ver, elapsed, total, s_tx, s_plain, s_etcd,
           info):
    def med(system, mode, n, field):
        rs = results.get((system, mode, n))
        return statistics.median(r[field] for r in rs) if rs else float("nan")

    def tot(system, mode, n, field):
        return sum(r[field] for r in results.get((system, mode, n), []))

    def ratio(x, y):
        return x / y if y else float("nan")

    print("\ndkv-bench-txn, %d repeat(s) of %.1f s per cell, %d accounts, "
          "%d CPUs, %s; %.0f s of runs" % (
              a.repeat, a.seconds, a.accounts, os.cpu_count(),
              ver[0] if ver else "etcd ?", elapsed))
    print("dkv: 3 nodes, 48 shards, group commit (fsync); etcd: 1 member, "
          "default settings (WAL fsync)")
    print("\nTransfers between two accounts on different nodes (medians; "
          "latency of committed transfers, retries included)")
    print("%7s  %-22s %10s %9s %9s %8s %7s" % (
        "clients", "system", "commits/s", "p50 ms", "p99 ms", "abort %",
        "errors"))
    rows = [("dkv", "transfer", "dkv WATCH+MULTI/EXEC"),
            ("etcd", "transfer", "etcd range+CAS txn"),
            ("dkv", "blind", "dkv blind MULTI/EXEC")]
    for n in counts:
        for system, mode, label in rows:
            print("%7d  %-22s %10.0f %9.2f %9.2f %8.2f %7d" % (
                n, label, med(system, mode, n, "tput"),
                med(system, mode, n, "p50_us") / 1000,
                med(system, mode, n, "p99_us") / 1000,
                100 * med(system, mode, n, "abort_rate"),
                tot(system, mode, n, "errors")))
        print("%7d  %-22s %9.2fx %9s %8.2fx" % (
            n, "ratio dkv/etcd",
            ratio(med("dkv", "transfer", n, "tput"),
                  med("etcd", "transfer", n, "tput")), "",
            ratio(med("dkv", "transfer", n, "p99_us"),
                  med("etcd", "transfer", n, "p99_us"))))

    print("\nSingle-shard fast path (MULTI SET SET EXEC, one shard) against "
          "a plain SET, both durable (medians)")
    print("%7s %12s %8s %8s %12s %8s %8s %8s" % (
        "clients", "MULTI/EXEC/s", "p50 ms", "p99 ms", "SET/s", "p50 ms",
        "p99 ms", "ratio"))
    for n in counts:
        print("%7d %12.0f %8.2f %8.2f %12.0f %8.2f %8.2f %7.2fx" % (
            n, med("dkv", "fastpath", n, "tput"),
            med("dkv", "fastpath", n, "p50_us") / 1000,
            med("dkv", "fastpath", n, "p99_us") / 1000,
            med("dkv", "set", n, "tput"),
            med("dkv", "set", n, "p50_us") / 1000,
            med("dkv", "set", n, "p99_us") / 1000,
            ratio(med("dkv", "fastpath", n, "tput"),
                  med("dkv", "set", n, "tput"))))

    print("\nTargets (information only; speed never fails this script):")
    for n in counts:
        if n < 16:
            continue
        tr = ratio(med("dkv", "transfer", n, "tput"),
                   med("etcd", "transfer", n, "tput"))
        dp, ep = (med("dkv", "transfer", n, "p99_us"),
                  med("etcd", "transfer", n, "p99_us"))
        print("  transfers, %2d clients: throughput %.2fx etcd (>= 4x: %s), "
              "p99 %.2f ms vs %.2f ms (lower: %s)" % (
                  n, tr, "PASS" if tr >= 4 else "FAIL", dp / 1000,
                  ep / 1000, "PASS" if dp < ep else "FAIL"))
    for n in counts:
        fr = ratio(med("dkv", "fastpath", n, "tput"),
                   med("dkv", "set", n, "tput"))
        print("  fast path, %2d clients: %.2fx plain SET (>= 0.75x: %s)" % (
            n, fr, "PASS" if fr >= 0.75 else "FAIL"))

    odd = []
    for key, rs in sorted(results.items()):
        for f in ("unknown", "gave_up", "unfinished", "errors"):
            t = sum(r[f] for r in rs)
            if t:
                odd.append("%s %s %d clients: %s %d%s" % (
                    key[0], key[1], key[2], f, t,
                    (" (first: %s)" % rs[0]["first_error"])
                    if f == "errors" and rs[0]["first_error"] else ""))
    if odd:
        print("\nCounted, not fatal:")
        for o in odd:
            print("  " + o)
    print("\ndkv transaction counters at the end (INFO Transactions):")
    for nid, i in info:
        print("  node %d: commits %s aborts %s refused_prepares %s "
              "in_doubt %s intents %s parked %s plain_waits %s" % (
                  nid, i.get("txn_commits"), i.get("txn_aborts"),
                  i.get("txn_refused_prepares"), i.get("txn_in_doubt"),
                  i.get("txn_intents"), i.get("txn_parked"),
                  i.get("txn_plain_waits")))


if __name__ == "__main__":
    sys.exit(main())
