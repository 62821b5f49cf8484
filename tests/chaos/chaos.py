#!/usr/bin/python3
"""The fault tests: every workload under every nemesis, on a fresh 3-node
cluster of real dkvd processes each, then a table of runs, operations,
faults injected and anomalies found (tests/chaos/README.md).

Usage: tests/chaos/chaos.py [--workloads bank,append,register]
                            [--nemeses none,kill,faultpoints,pause,clock,
                                       clock-beyond,disk,partition,...]
                            [--seconds S] [--seed N] [--out DIR]
                            [--build DIR] [--quick]

--seconds is each run's load time (default 120; --quick: 10, and the
nemeses kill+faultpoints, pause+partition, disk and clock only). A run
whose nemesis this machine cannot inject (no root for network namespaces,
libfiu or libfaketime missing) is skipped and says why. A nemesis list item may combine
nemeses with '+'. Histories, checker outputs and, for a failed run, the
nodes' data and logs go to --out (default: a new temporary folder, kept
and named at the end). DKV_SEED or --seed replays a run (each run's seed
is printed in the table).

Exit status: 0 when no run found an anomaly or a harness error, else 1.
"""
import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../integration"))
sys.path.insert(0, HERE)
import cluster  # noqa: E402
import nemesis as nem  # noqa: E402
from workloads import WORKLOADS, settle  # noqa: E402


def run_one(wname, nname, seconds, seed, outdir, bindir):
    """One workload under one nemesis; returns a result row (dict)."""
    rnd = random.Random(seed)
    rundir = os.path.join(outdir, "%s-%s" % (wname, nname))
    os.makedirs(rundir, exist_ok=True)
    wl = WORKLOADS[wname](seed, rundir, bindir)
    ne = nem.make(nname, seed)
    row = {"workload": wname, "nemesis": nname, "seed": seed}
    t_start = time.time()
    cl = cluster.Cluster(n=3, shards=9)
    why = ne.prepare(cl)
    if why:
        ne.close()
        cl.close()
        row.update(ops=dict(wl.stats), faults={}, anomalies=[], errors=[],
                   seconds=0.0, skipped=why)
        return row
    try:
        cl.__enter__()
        wl.setup(cl)
        ne.start(cl)
        stop_at = time.time() + seconds
        ts = []
        for i in range(wl.clients()):
            crnd = random.Random(seed * 1000 + i)
            ts.append(threading.Thread(target=wl.client,
                                       args=(i, crnd, cl, stop_at)))

        def nemesis_loop():
            time.sleep(rnd.uniform(0.5, 1.5))
            while time.time() < stop_at:
                try:
                    ne.act(rnd)
                except Exception as e:  # the nemesis broke: a failed run
                    ne.errors.append("nemesis: %r" % e)
                    return
                time.sleep(rnd.uniform(0.3, 1.5))
        ts.append(threading.Thread(target=nemesis_loop))
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        ne.heal()
        if not settle(cl):
            wl.errors.append("intents still outstanding after healing")
        wl.final(cl)
    except Exception as e:  # a harness failure is a failed run
        wl.errors.append("harness: %r" % e)
    finally:
        faults, nerrors = ne.merged()
        with open(os.path.join(rundir, "nemesis-log.json"), "w") as f:
            json.dump(ne.merged_log(), f, indent=0)
        failed = bool(wl.anomalies or wl.errors or nerrors)
        if failed:
            for nd in cl.nodes:
                if os.path.isdir(nd.dir):
                    shutil.copytree(nd.dir, os.path.join(
                        rundir, "node%d" % nd.id), dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.sst"))
        cl.close()
        ne.close()
    row.update(ops=dict(wl.stats), faults=faults,
               anomalies=list(wl.anomalies),
               errors=list(wl.errors) + nerrors,
               seconds=time.time() - t_start)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workloads", default="bank,append,register")
    ap.add_argument("--nemeses", default="none,kill,faultpoints,pause,"
                    "kill+pause,clock,clock-beyond,disk,partition,"
                    "partition+kill")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--seed", type=int,
                    default=int(os.environ.get("DKV_SEED", "0")) or None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--build", default=os.path.join(HERE, "../../build"))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.quick and a.nemeses == ap.get_default("nemeses"):
        a.nemeses = ("kill+faultpoints,pause+partition,disk,clock,"
                     "clock-beyond")
    seconds = a.seconds or (10.0 if a.quick else 120.0)
    seed = a.seed or random.randrange(1, 1 << 30)
    bindir = os.path.join(os.path.abspath(a.build), "bin")
    os.environ.setdefault("DKVD", os.path.join(bindir, "dkvd"))
    cluster.DKVD = os.environ["DKVD"]
    outdir = a.out or tempfile.mkdtemp(prefix="dkv-chaos-")
    os.makedirs(outdir, exist_ok=True)
    wnames = [w for w in a.workloads.split(",") if w]
    nnames = [n for n in a.nemeses.split(",") if n]
    for w in wnames:
        if w not in WORKLOADS:
            ap.error("unknown workload %r" % w)
    for n in nnames:
        nem.make(n, 0)  # validates the names
    print("chaos: seed %d, %g s per run, output in %s" % (seed, seconds,
                                                          outdir), flush=True)
    rows = []
    k = 0
    for w in wnames:
        for n in nnames:
            k += 1
            row = run_one(w, n, seconds, seed + k, outdir, bindir)
            rows.append(row)
            verdict = "ANOMALY" if row["anomalies"] else (
                "ERROR" if row["errors"] else (
                    "skipped: " + row["skipped"] if row.get("skipped")
                    else "ok"))
            print("  %-9s %-18s seed %-11d ok %5d fail %4d info %4d  "
                  "faults %-4d %s" % (
                      w, n, row["seed"], row["ops"]["ok"],
                      row["ops"]["fail"], row["ops"]["info"],
                      sum(row["faults"].values()), verdict), flush=True)
            for line in row["anomalies"] + row["errors"]:
                print("      " + line[:1000].replace("\n", "\n      "),
                      flush=True)
    tot_ops = sum(r["ops"]["ok"] + r["ops"]["fail"] + r["ops"]["info"]
                  for r in rows)
    tot_faults = sum(sum(r["faults"].values()) for r in rows)
    tot_anom = sum(len(r["anomalies"]) for r in rows)
    tot_err = sum(len(r["errors"]) for r in rows)
    print()
    print("| workload | nemesis | seed | ok | fail | info | faults | "
          "anomalies |")
    print("|---|---|---:|---:|---:|---:|---|---:|")
    for r in rows:
        print("| %s | %s | %d | %d | %d | %d | %s | %s |" % (
            r["workload"], r["nemesis"], r["seed"], r["ops"]["ok"],
            r["ops"]["fail"], r["ops"]["info"],
            ", ".join("%s %d" % kv for kv in sorted(r["faults"].items()))
            or "-", ("skipped: " + r["skipped"]) if r.get("skipped")
            else len(r["anomalies"])))
    print("\n%d runs, %d operations, %d faults injected, %d anomalies, "
          "%d harness errors; histories in %s" % (
              len(rows), tot_ops, tot_faults, tot_anom, tot_err, outdir))
    return 1 if tot_anom or tot_err else 0


if __name__ == "__main__":
    sys.exit(main())
