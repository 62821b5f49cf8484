#!/usr/bin/python3
"""The comparison benchmark's report: results.json -> report.md + charts.

bench/bench.py calls it at the end of a run; run it on its own to
regenerate a report (for instance after changing this file):

    bench/report.py bench/results/2024-05-01/results.json [--out DIR]

It writes report.md and the PNG charts (gnuplot, if installed: Debian's
gnuplot-nox) next to results.json or into --out, and prints the summary
table. Standard library only.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

SYSTEMS = ["dkv", "dkv-nofsync", "redis-always", "redis-nosave", "etcd",
           "echo"]
WORKLOADS = ["A", "B", "C", "E", "F", "T"]
DESC = {"A": "50% read, 50% update", "B": "95% read, 5% update",
        "C": "100% read", "E": "95% short scan, 5% update",
        "F": "50% read, 50% read-modify-write",
        "T": "two-account transfer (optimistic transaction)"}
LABEL = {"dkv": "dkv (group commit)", "dkv-nofsync": "dkv (no fsync)",
         "redis-always": "Redis (appendfsync always)",
         "redis-nosave": "Redis (no persistence)",
         "etcd": "etcd", "echo": "echo ceiling"}
COLOR = {"dkv": "#1f4e9c", "dkv-nofsync": "#6fa8dc",
         "redis-always": "#c0392b", "redis-nosave": "#f39c12",
         "etcd": "#27ae60", "echo": "#7f7f7f"}
PCTS = ["p50", "p95", "p99", "p999"]
BASE = 16  # clients of the summary and of the workload tables


# --- aggregation ---------------------------------------------------------

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def aggregate(runs):
    """{(phase, system, workload, dist, clients, pipeline, nodes): cell}
    over the repetitions: median ops/s with min and max, median
    percentiles and CPU, summed errors."""
    groups = {}
    for r in runs:
        if r.get("phase") == "load":
            continue
        k = (r["phase"], r["system"], r["workload"], r["dist"],
             r["clients"], r["pipeline"], r["nodes"])
        groups.setdefault(k, []).append(r)
    out = {}
    for k, rs in groups.items():
        ok = [r for r in rs if r.get("result")]
        c = {"n": len(ok), "failed": len(rs) - len(ok)}
        out[k] = c
        if not ok:
            continue
        res = [r["result"] for r in ok]
        t = [x["ops_per_s"] for x in res]
        c["ops_per_s"], c["min"], c["max"] = med(t), min(t), max(t)
        for p in PCTS + ["mean", "max"]:
            c["lat_" + p] = med([x.get("latency_us", {}).get(p)
                                 for x in res])
        for f in ("errors", "aborts", "gave_up", "ops"):
            c[f] = sum(x.get(f) or 0 for x in res)
        c["cpu_us_per_op"] = med([r.get("server_cpu_us_per_op")
                                  for r in ok])
        c["driver_cpu_us_per_op"] = med([r.get("driver_cpu_us_per_op")
                                         for r in ok])
        c["server_cores"] = med([r["server_cpu_s"] / r["wall_s"]
                                 for r in ok if r.get("wall_s")])
        c["driver_cores"] = med([r["driver_cpu_s"] / r["wall_s"]
                                 for r in ok if r.get("wall_s")])
        cdf = {}
        for x in res:
            for p, v in x.get("cdf_us") or []:
                cdf.setdefault(float(p), []).append(v)
        c["cdf"] = sorted((p, med(v)) for p, v in cdf.items())
    return out


class Cells:
    def __init__(self, runs, base=BASE):
        self.agg = aggregate(runs)
        self.base = base

    def get(self, system, workload, dist="uniform", clients=None,
            pipeline=1, phase="matrix", nodes=None):
        clients = self.base if clients is None else clients
        for k, c in self.agg.items():
            if k[:6] == (phase, system, workload, dist, clients, pipeline) \
                    and (nodes is None or k[6] == nodes) and c["n"]:
                return c
        return None

    def ops(self, *a, **kw):
        c = self.get(*a, **kw)
        return c["ops_per_s"] if c else None

    def keys(self, phase="matrix"):
        return [k for k in self.agg if k[0] == phase]


# --- formatting ----------------------------------------------------------

def f_ops(x):
    if x is None:
        return "—"
    return "{:,.0f}".format(x)


def f_ms(us):
    if us is None:
        return "—"
    ms = us / 1000.0
    if ms >= 100:
        return "%.0f" % ms
    if ms >= 10:
        return "%.1f" % ms
    if ms >= 1:
        return "%.2f" % ms
    return "%.3f" % ms


def f_ratio(x, y):
    if x is None or not y:
        return "—"
    return "%.2fx" % (x / y)


def f_num(x, fmt="%.1f"):
    return "—" if x is None else fmt % x


def table(head, rows, align=None):
    align = align or ["l"] + ["r"] * (len(head) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(sep) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(x) for x in r) + " |")
    return "\n".join(lines)


# --- the summary ---------------------------------------------------------

def summary_table(cells, meta):
    head = ["workload", "dkv", "dkv-nofsync", "redis-always",
            "redis-nosave", "etcd", "echo ceiling", "dkv / redis-always",
            "dkv-nofsync / redis-nosave", "dkv / etcd"]
    rows = []
    for w in WORKLOADS:
        if w not in meta["settings"].get("workloads", WORKLOADS):
            continue
        v = {s: cells.ops(s, w) for s in SYSTEMS}
        if not any(v.values()):
            continue
        row = ["%s: %s" % (w, DESC[w])]
        for s in SYSTEMS:
            if w == "E" and s.startswith("redis"):
                row.append("n/a")
            elif w == "T" and s.startswith("redis") and v[s] is not None:
                row.append(f_ops(v[s]) + " †")
            else:
                row.append(f_ops(v[s]))
        if w == "E":
            row += ["n/a", "n/a"]
        else:
            row += [f_ratio(v["dkv"], v["redis-always"]),
                    f_ratio(v["dkv-nofsync"], v["redis-nosave"])]
        row.append(f_ratio(v["dkv"], v["etcd"]))
        rows.append(row)
    st = meta["settings"]
    txt = table(head, rows)
    txt += ("\n\nops/s, median of %d repetition(s) of %g s, %d client(s), "
            "uniform keys, %d records of %d bytes (T: %d accounts). A ratio "
            "above 1 means dkv is faster. † Redis's T is MULTI/EXEC on one "
            "hash slot (`{acct}:` keys) of one instance: not comparable in "
            "isolation. E is not run on Redis (no range over plain keys)." % (
                st["repeat"], st["seconds"], cells.base,
                st["keys"], st["value_size"], st["accounts"]))
    return txt


# --- the charts ----------------------------------------------------------

def nines(p):
    return 4.5 if p >= 100 else -math.log10(1 - p / 100.0)


def gnuplot_terminal(gp):
    p = subprocess.run([gp, "-e", "set terminal pngcairo"],
                       capture_output=True, text=True, timeout=30)
    if p.returncode == 0 and not p.stderr.strip():
        return "pngcairo size 960,600 font 'sans,10'"
    return "png size 960,600"


def style(s, i=None):
    lw = 2
    dt = " dt 2" if s == "echo" else ""
    return "lc rgb '%s' lw %d pt %d%s" % (COLOR.get(s, "black"), lw,
                                          (SYSTEMS.index(s) + 5)
                                          if s in SYSTEMS else 7, dt)


def charts(cells, meta, outdir):
    """[(file, caption)] written, and a note (None if all went well)."""
    gp = os.environ.get("GNUPLOT") or shutil.which("gnuplot")
    if not gp:
        return [], ("Charts skipped: gnuplot is not installed (Debian's "
                    "gnuplot-nox).")
    term = gnuplot_terminal(gp)
    made, problems = [], []
    st = meta["settings"]
    tmp = tempfile.mkdtemp(prefix="dkv-report-")

    def plot(name, caption, body):
        path = os.path.join(outdir, name)
        script = "set terminal %s\nset output '%s'\n%s\nset output\n" % (
            term, path.replace("'", "''"), body)
        sp = os.path.join(tmp, name + ".gp")
        with open(sp, "w") as f:
            f.write(script)
        p = subprocess.run([gp, sp], capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0 or not os.path.exists(path):
            problems.append("%s: gnuplot failed: %s" % (
                name, p.stderr.strip()[-300:]))
            return
        made.append((name, caption))

    try:
        # Throughput against clients, workload A.
        blocks, plots = [], []
        for i, s in enumerate(SYSTEMS):
            pts = sorted((k[4], c) for k, c in cells.agg.items()
                         if k[:4] == ("matrix", s, "A", "uniform")
                         and k[5] == 1 and c["n"])
            if not pts:
                continue
            blocks.append("$d%d << EOD\n%s\nEOD" % (i, "\n".join(
                "%d %g %g %g" % (n, c["ops_per_s"], c["min"], c["max"])
                for n, c in pts)))
            plots.append("$d%d using 1:2:3:4 with yerrorlines %s title '%s'"
                         % (i, style(s), LABEL[s]))
        if plots:
            counts = sorted({k[4] for k in cells.keys()
                             if k[2] == "A" and k[3] == "uniform"})
            plot("throughput_vs_clients.png",
                 "Workload A, uniform: median ops/s against clients "
                 "(bars: min-max over repetitions)",
                 "\n".join(blocks) + "\n" +
                 "set title 'Workload A (50%% read, 50%% update), uniform: "
                 "throughput against clients (%d cores shared by servers "
                 "and load generator)'\n" % (meta["machine"]["cpus"] or 0) +
                 "set xlabel 'clients'\nset ylabel 'ops/s (median)'\n"
                 "set logscale x 2\nset logscale y\nset grid\n"
                 "set key outside below center horizontal\n"
                 "set xtics (%s)\n" % ", ".join(str(n) for n in counts) +
                 "set xrange [%g:%g]\n" % (min(counts) / 1.3,
                                           max(counts) * 1.3) +
                 "plot " + ", \\\n  ".join(plots))

        # Latency distribution, workload A at 16 clients.
        blocks, plots = [], []
        for i, s in enumerate(SYSTEMS):
            c = cells.get(s, "A")
            if not c or not c.get("cdf"):
                continue
            blocks.append("$d%d << EOD\n%s\nEOD" % (i, "\n".join(
                "%g %g" % (nines(p), v / 1000.0) for p, v in c["cdf"]
                if v and v > 0)))
            plots.append("$d%d using 1:2 with linespoints %s title '%s'" % (
                i, style(s), LABEL[s]))
        if plots:
            clients = cells.base
            plot("latency_cdf_A.png",
                 "Workload A, %d clients, uniform: latency at each "
                 "percentile (median over repetitions)" % clients,
                 "\n".join(blocks) + "\n" +
                 "set title 'Workload A, %d clients, uniform: latency by "
                 "percentile'\n" % clients +
                 "set xlabel 'percentile'\nset ylabel 'latency (ms)'\n"
                 "set logscale y\nset grid\nset key outside below center horizontal\n"
                 "set xtics ('0' 0, '50' 0.301, '75' 0.602, '90' 1, "
                 "'99' 2, '99.9' 3, '99.99' 4, 'max' 4.5)\n"
                 "set xrange [0:4.6]\n"
                 "plot " + ", \\\n  ".join(plots))

        # dkv against cluster size.
        pts = sorted((k[6], c) for k, c in cells.agg.items()
                     if k[0] == "cluster_size" and k[1] == "dkv" and c["n"])
        if pts:
            plot("cluster_size.png",
                 "dkv (group commit), workload A, %d clients: median ops/s "
                 "against the number of local nodes" % st.get(
                     "size_clients", 64),
                 "$d << EOD\n%s\nEOD\n" % "\n".join(
                     "%d %g %g %g" % (n, c["ops_per_s"], c["min"], c["max"])
                     for n, c in pts) +
                 "set title 'dkv, workload A, %d clients: throughput "
                 "against local nodes (all on the same %d cores)'\n" % (
                     st.get("size_clients", 64),
                     meta["machine"]["cpus"] or 0) +
                 "set xlabel 'nodes'\nset ylabel 'ops/s (median)'\n"
                 "set xrange [0.5:%g]\nset xtics 1\nset yrange [0:*]\n"
                 "set grid\nunset key\n" % (max(n for n, _ in pts) + 0.5) +
                 "plot $d using 1:2:3:4 with yerrorlines %s" % style("dkv"))

        # ops/s per workload per system.
        present = [s for s in SYSTEMS if any(cells.get(s, w)
                                             for w in WORKLOADS)]
        ws = [w for w in WORKLOADS if any(cells.get(s, w) for s in SYSTEMS)]
        if present and ws:
            rows = []
            for w in ws:
                rows.append(w + " " + " ".join(
                    ("%g" % cells.ops(s, w)) if cells.ops(s, w) else "-"
                    for s in present))
            plots = ["$d using %d:xtic(1) title '%s' lc rgb '%s'" % (
                j + 2, LABEL[s], COLOR[s]) for j, s in enumerate(present)]
            lo = min(cells.ops(s, w) for s in present for w in ws
                     if cells.ops(s, w))
            floor = 10 ** math.floor(math.log10(max(lo, 1) / 2))
            plot("workloads.png",
                 "Median ops/s per workload and system, %d clients, "
                 "uniform (log scale)" % cells.base,
                 "$d << EOD\n%s\nEOD\n" % "\n".join(rows) +
                 "set title 'Throughput per workload, %d clients, uniform'\n"
                 % cells.base +
                 "set datafile missing '-'\nset style data histograms\n"
                 "set style histogram clustered gap 1\n"
                 "set style fill solid 0.85 border -1\nset boxwidth 0.9\n"
                 "set logscale y\nset yrange [%g:*]\nset grid ytics\n"
                 "set xrange [-0.6:%g]\n" % (floor, len(ws) - 0.4) +
                 "set ylabel 'ops/s (median, log scale)'\n"
                 "set key outside below center horizontal\n"
                 "plot " + ", \\\n  ".join(plots))
    except (OSError, subprocess.SubprocessError) as e:
        problems.append("gnuplot: %s" % e)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return made, ("; ".join(problems) if problems else None)


# --- the report ----------------------------------------------------------

def render(results, outdir):
    meta = results["meta"]
    st = meta["settings"]
    mach = meta["machine"]
    cells = Cells(results["runs"], st.get("base_clients", BASE))
    out = []
    w = out.append

    title = "dkv, Redis and etcd compared: %s" % meta["date"]
    if meta.get("git_commit"):
        title += " (dkv %s)" % meta["git_commit"]
    w("# " + title + "\n")
    if not meta.get("complete", True):
        w("**Incomplete run: interrupted before the end.**\n")
    w("Mode `%s`: %g s per run, %d repetition(s) per cell, the systems "
      "interleaved (order rotated every repetition); %d records of %d "
      "bytes, %d accounts; %.0f s in all." % (
          meta["mode"], st["seconds"], st["repeat"], st["keys"],
          st["value_size"], st["accounts"], meta.get("elapsed_s") or 0))
    w("")
    w("**Machine:** %s CPU cores (%s), kernel %s, %s MiB RAM, data on %s." % (
        mach.get("cpus"), mach.get("cpu_model") or "model unknown",
        mach.get("kernel"), mach.get("mem_total_mib") or "?",
        mach.get("data_fs") or "?"))
    w("")
    if "tmpfs" in (mach.get("data_fs") or ""):
        w("**Warning:** the servers' data was on tmpfs, where fsync costs "
          "nothing: the durable configurations are not durable here.\n")
    other = [r["other_cpu_s"] / r["wall_s"] for r in results["runs"]
             if r.get("other_cpu_s") is not None and r.get("wall_s")
             and r["phase"] != "load"]
    if other:
        other.sort()
        w("Other activity on the machine (processes other than the "
          "measured servers and the load generator) during the runs: "
          "median %.2f cores, 90th percentile %.2f, max %.2f." % (
              med(other), other[int(0.9 * (len(other) - 1))], other[-1]))
        w("")
    w("> Everything (every server process, all dkv nodes, and the load "
      "generator) shares the same %s cores. Throughput and scaling numbers "
      "measure contention for those cores as much as the systems "
      "themselves: a system that needs less CPU per operation leaves more "
      "to the load generator, and a 4-node dkv cluster here is four "
      "processes on %s cores, not four machines. The echo ceiling is the "
      "same client code against a server that does nothing." % (
          mach.get("cpus"), mach.get("cpus")))
    w("")

    # Systems.
    w("## Systems\n")
    rows = []
    for s in SYSTEMS:
        i = meta["systems"].get(s)
        if i:
            rows.append([s, i["durability"], i.get("version") or "?",
                         ", ".join(str(p) for p in i.get("pids", []))])
        elif s in meta.get("skipped", {}):
            rows.append([s, meta["skipped"][s], "", ""])
    w(table(["system", "durability", "version", "server PIDs"], rows,
            ["l", "l", "l", "l"]))
    w("")
    w("Durability is compared like for like: dkv (group commit) against "
      "Redis with `appendfsync always` and against etcd, which always "
      "fsyncs its WAL; dkv without fsync against Redis without "
      "persistence. Drivers: `dkv-bench` (C, RESP, the same code for dkv, "
      "Redis and echo: %s) and `dkv-bench-etcd` (Go, etcd's clientv3: %s); "
      "contract in `bench/workloads.md`." % (
          meta["driver_versions"].get("dkv-bench") or "no version",
          meta["driver_versions"].get("dkv-bench-etcd") or
          "not available"))
    w("")

    # Summary.
    summary = summary_table(cells, meta)
    w("## Summary\n")
    w(summary)
    w("")

    # Problems.
    fails = results.get("failures") or []
    cons = results.get("consistency") or {}
    w("## Checks\n")
    if cons:
        w(table(["system", "sum of the T accounts", "expected", "result"],
                [[s, c["sum"] if c["sum"] is not None else "?",
                  c["expected"], "ok" if c["ok"] else
                  "**FAILED**: " + "; ".join(c["problems"])]
                 for s, c in cons.items()], ["l", "r", "r", "l"]))
        w("")
    if fails:
        w("**%d problem(s)** (driver failures, servers that did not start, "
          "failed checks):\n" % len(fails))
        for f in fails:
            w("- `%s`" % f.splitlines()[0].replace("`", "'"))
        w("")
    else:
        w("Every driver run finished and every check held.\n")
    for n in meta.get("notes") or []:
        w("- note: %s" % n)

    # Per-workload detail.
    w("## Workloads in detail\n")
    w("Medians over the repetitions, [min–max] of ops/s; latency in ms "
      "(nearest-rank percentiles of every operation of a run); errors, "
      "aborts and gave-up summed over the repetitions; CPU µs/op: the "
      "server processes' user+system CPU during the run divided by the "
      "operations (background work included); server cores and client "
      "cores: CPU seconds of the servers and of the load generator per "
      "second of the run; % echo: ops/s against the echo "
      "ceiling with the same workload, clients and pipeline.\n")
    for wl in WORKLOADS:
        ks = sorted({(k[3], k[4], k[5]) for k in cells.keys()
                     if k[2] == wl and (k[4] == cells.base)},
                    key=lambda x: (x[2], x[0] != "uniform", x[0]))
        if not ks:
            continue
        w("### %s: %s\n" % (wl, DESC[wl]))
        rows = []
        for dist, clients, pipe in ks:
            echo = cells.ops("echo", wl, "uniform", clients, pipe)
            for s in SYSTEMS:
                c = cells.get(s, wl, dist, clients, pipe)
                if c is None:
                    continue
                rows.append([
                    s, dist, pipe,
                    "%s [%s–%s]" % (f_ops(c["ops_per_s"]), f_ops(c["min"]),
                                    f_ops(c["max"])),
                    f_ms(c["lat_p50"]), f_ms(c["lat_p95"]),
                    f_ms(c["lat_p99"]), f_ms(c["lat_p999"]),
                    c["errors"], c["aborts"], c["gave_up"],
                    f_num(c["cpu_us_per_op"]),
                    f_num(c["server_cores"], "%.2f"),
                    f_num(c["driver_cores"], "%.2f"),
                    ("%.0f%%" % (100 * c["ops_per_s"] / echo))
                    if echo and s != "echo" else ""])
        w(table(["system", "key choice", "pipeline", "ops/s [min–max]", "p50",
                 "p95", "p99", "p99.9", "errors", "aborts", "gave up",
                 "CPU µs/op", "server cores", "client cores", "% echo"],
                rows, ["l", "l"] + ["r"] * 13))
        w("")

    # Scaling with clients.
    counts = sorted({k[4] for k in cells.keys()
                     if k[2] == "A" and k[3] == "uniform" and k[5] == 1})
    if len(counts) > 1:
        w("## Scaling with clients (workload A, uniform)\n")
        present = [s for s in SYSTEMS if any(
            cells.get(s, "A", "uniform", n) for n in counts)]
        w("Median ops/s (p99 latency in ms); %d event-loop threads in "
          "`dkv-bench` from 64 clients on.\n" % 2)
        rows = []
        for n in counts:
            row = [n]
            for s in present:
                c = cells.get(s, "A", "uniform", n)
                row.append("%s (%s)" % (f_ops(c["ops_per_s"]),
                                        f_ms(c["lat_p99"])) if c else "—")
            echo = cells.ops("echo", "A", "uniform", n)
            row.append(f_ratio(cells.ops("dkv", "A", "uniform", n),
                               cells.ops("redis-always", "A", "uniform", n)))
            row.append(f_ratio(cells.ops("dkv", "A", "uniform", n),
                               cells.ops("etcd", "A", "uniform", n)))
            d = cells.ops("dkv", "A", "uniform", n)
            row.append("%.0f%%" % (100 * d / echo) if d and echo else "—")
            rows.append(row)
        w(table(["clients"] + present + ["dkv / redis-always", "dkv / etcd",
                                         "dkv % echo"], rows))
        w("")

    # Scaling with cluster size.
    pts = sorted((k[6], c) for k, c in cells.agg.items()
                 if k[0] == "cluster_size" and c["n"])
    if pts:
        w("## Scaling with cluster size (dkv, workload A, %d clients)\n" %
          st.get("size_clients", 64))
        w("A fresh cluster for each size (%d shards per node, group "
          "commit), loaded, measured, stopped. All nodes run on the same "
          "%s cores as the load generator: more nodes add processes and "
          "forwarding hops, not CPU.\n" % (st.get("shards_per_node", 16),
                                           mach.get("cpus")))
        one = pts[0][1]["ops_per_s"] if pts[0][0] == 1 else None
        rows = []
        for n, c in pts:
            rows.append([n, "%s [%s–%s]" % (f_ops(c["ops_per_s"]),
                                            f_ops(c["min"]), f_ops(c["max"])),
                         f_ratio(c["ops_per_s"], one), f_ms(c["lat_p50"]),
                         f_ms(c["lat_p99"]), f_ms(c["lat_p999"]),
                         c["errors"], f_num(c["cpu_us_per_op"]),
                         f_num(c["server_cores"], "%.2f")])
        w(table(["nodes", "ops/s [min–max]", "vs 1 node", "p50", "p99",
                 "p99.9", "errors", "CPU µs/op", "server cores"], rows))
        w("")

    # Loading.
    loads = [r for r in results["runs"] if r["phase"] == "load" and
             r.get("result")]
    if loads:
        w("## Loading\n")
        rows = [[r["system"] + (" (%d-node cluster-size run)" % r["nodes"]
                                if r.get("series") == "cluster_size"
                                else ""),
                 r["workload"], r["result"].get("ops", 0), r["clients"],
                 f_ops(r["result"]["ops_per_s"]),
                 f_num(r.get("server_cpu_us_per_op"))]
                for r in loads]
        w(table(["system", "phase", "records", "clients", "records/s",
                 "CPU µs/record"], rows, ["l", "l", "r", "r", "r", "r"]))
        w("")

    # Charts.
    w("## Charts\n")
    made, note = charts(cells, meta, outdir)
    for name, caption in made:
        w("![%s](%s)\n\n*%s*\n" % (caption, name, caption))
    if note:
        w(note + "\n")

    # Notes.
    w("## Notes\n")
    w("- Redis's T runs WATCH/MGET then MULTI/SET/SET/EXEC on keys of one "
      "hash slot (`{acct}:NNNNNN`) of a single instance: it is there for "
      "the shape of the numbers, not comparable with dkv's cross-shard, "
      "cross-node transactions or etcd's in isolation.")
    w("- E (short scans) is not run on Redis, which has no range over "
      "plain keys, nor on the echo server.")
    w("- dkv's clients are spread round robin over its nodes; a request "
      "for a key another node owns is forwarded (one more loopback hop). "
      "etcd's driver uses one clientv3 client per 16 clients and does not "
      "pipeline.")
    w("- The echo ceiling (`dkv-bench --serve-echo`, one thread, no "
      "storage) is what the client code and this machine's loopback can "
      "do; % echo says how close a system comes to it. etcd is driven by "
      "another program (Go), so its % echo is indicative only.")
    w("- CPU is sampled from /proc/<pid>/stat (utime+stime of every server "
      "process of the system) right before and after each driver run.")
    w("- Speed never fails the benchmark; a failed driver run or a failed "
      "check does.")
    w("")
    w("## Reproduce\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    where = os.path.abspath(outdir)
    if where.startswith(root + os.sep):
        where = os.path.relpath(where, root)
    w("From the top of the source tree:\n")
    w("```sh\nmake bench          # short mode (bench/bench.py --short)\n"
      "make bench-full     # full mode (bench/bench.py --full)\n"
      "%s   # this run\n"
      "bench/report.py %s/results.json   # regenerate this report\n```\n" %
      (" ".join(meta.get("argv") or ["bench/bench.py"]), where))
    w("Every driver command line, the server command lines and every raw "
      "driver result are in results.json.")
    return "\n".join(out) + "\n", summary


def write_report(results, outdir):
    text, summary = render(results, outdir)
    path = os.path.join(outdir, "report.md")
    with open(path, "w") as f:
        f.write(text)
    return path, summary


def main():
    ap = argparse.ArgumentParser(description="results.json -> report.md "
                                 "and charts")
    ap.add_argument("results", help="results.json written by bench.py")
    ap.add_argument("--out", help="directory for report.md and the charts "
                    "(default: that of results.json)")
    a = ap.parse_args()
    with open(a.results) as f:
        results = json.load(f)
    outdir = a.out or os.path.dirname(os.path.abspath(a.results))
    os.makedirs(outdir, exist_ok=True)
    path, summary = write_report(results, outdir)
    print(summary)
    print("\nreport: %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
