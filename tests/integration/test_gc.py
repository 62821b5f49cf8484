#!/usr/bin/python3
"""Background history GC in real dkvd processes (src/server/gc.c).

Two one-node clusters run the same workload: the same 2000 keys
overwritten with fresh 1 KiB values, round after round. Node A collects
(gc.retention_ms=1000, gc.interval_ms=200); node B does not (gc.interval_ms=0,
a retention of an hour, so its watermark stays below every version). After
a pause longer than A's retention, `DKV.GC COMPACT` on both: A's disk use
must be below a third of B's, every key must still read its newest value on
both, a read at an epoch of the first round must be refused on A (below
the watermark) and still answered by B. Also: the configuration keys
through flags, environment and --check-config, INFO's `# GC` section, the
background passes counting up, DKV.GC's syntax, a clean SIGTERM while
a DKV.GC COMPACT is running, the watermark kept across a restart, and a
live snapshot pinning the watermark past the retention (its version still
readable with DKV.AT). Prints both disk figures.
"""
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from cluster import DKVD, Cluster  # noqa: E402

import redis  # noqa: E402

KEYS = 2000
VALUE = 1024
ROUNDS = 60
BUDGET_S = 20.0          # the workload's time bound on node A
PIPE = 500
HKEY = "{h}hist"         # its history is read at an old epoch


def info(c, section="gc"):
    return c.info(section)


def gc(c, compact=True):
    r = c.execute_command("DKV.GC", "COMPACT") if compact else \
        c.execute_command("DKV.GC")
    f = dict(zip([x.decode() for x in r[0::2]], r[1::2]))
    assert set(f) == {"watermark_min", "watermark_max", "shards",
                      "disk_bytes"}, f
    return f


def check_config():
    """The keys through flags, environment, --check-config and --help."""
    env = dict(os.environ, DKV_GC_INTERVAL_MS="250")
    out = subprocess.run([DKVD, "--gc-retention-ms", "1500", "--check-config"],
                         env=env, capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    lines = {ln.split("=")[0].strip(): ln for ln in out.stdout.splitlines()}
    assert "1500" in lines["gc.retention_ms"] and \
        "flag" in lines["gc.retention_ms"], out.stdout
    assert "250" in lines["gc.interval_ms"] and \
        "environment" in lines["gc.interval_ms"], out.stdout
    defaults = subprocess.run([DKVD, "--check-config"], capture_output=True,
                              text=True, timeout=20,
                              env={k: v for k, v in os.environ.items()
                                   if not k.startswith("DKV_GC_")})
    assert "600000" in defaults.stdout and "10000" in defaults.stdout, \
        defaults.stdout
    for bad in (["--gc-retention-ms", "999"], ["--gc-interval-ms", "99"]):
        r = subprocess.run([DKVD, "--check-config"] + bad,
                           capture_output=True, text=True, timeout=20)
        assert r.returncode != 0 and "gc" in r.stderr, (bad, r.stderr)
    r = subprocess.run([DKVD, "--gc-interval-ms", "0", "--check-config"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    h = subprocess.run([DKVD, "--help"], capture_output=True, text=True,
                       timeout=20)
    assert "--gc-retention-ms" in h.stdout and \
        "DKV_GC_INTERVAL_MS" in h.stdout, h.stdout


@contextlib.contextmanager
def gc_env(retention_ms, interval_ms):
    """Nodes started inside get these GC settings (through the
    environment) and a small write buffer, so that the WAL stays small
    next to the data."""
    saved = {k: os.environ.get(k) for k in
             ("DKV_GC_RETENTION_MS", "DKV_GC_INTERVAL_MS",
              "DKV_STORE_WRITE_BUFFER_MB")}
    os.environ.update(DKV_GC_RETENTION_MS=str(retention_ms),
                      DKV_GC_INTERVAL_MS=str(interval_ms),
                      DKV_STORE_WRITE_BUFFER_MB="4")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def start(retention_ms, interval_ms):
    """A one-node cluster with these GC settings."""
    with gc_env(retention_ms, interval_ms):
        return Cluster(n=1, shards=4).__enter__()


def workload(c, rounds=None):
    """Overwrites the keys round after round; returns (rounds done, the
    newest value of each key, an epoch of the first round and HKEY's value
    then)."""
    newest = {}
    first_epoch = first_val = None
    t0 = time.time()
    r = 0
    while r < (rounds or ROUNDS):
        if rounds is None and r >= 10 and time.time() - t0 > BUDGET_S:
            break
        p = c.pipeline(transaction=False)
        for k in range(KEYS):
            v = os.urandom(VALUE)
            newest["k%d" % k] = v
            p.set("k%d" % k, v)
            if len(p) >= PIPE:
                assert all(p.execute())
        hv = b"round-%d" % r
        p.set(HKEY, hv)
        assert all(p.execute())
        if r == 0:
            first_epoch = int(c.execute_command("DKV.EPOCH"))
            first_val = hv
        r += 1
    return r, newest, first_epoch, first_val


def check_values(c, newest):
    names = sorted(newest)
    for i in range(0, len(names), 500):
        part = names[i:i + 500]
        got = c.mget(part)
        for k, v in zip(part, got):
            assert v == newest[k], "key %s lost its newest value" % k


def read_at(c, epoch):
    return c.execute_command("DKV.RANGE", HKEY, HKEY + "\0", "EPOCH",
                             str(epoch))


def main():
    t_start = time.time()
    check_config()
    a = b = None
    try:
        a = start(1000, 200)
        b = start(3600 * 1000, 0)
        ca, cb = a.nodes[0].client(), b.nodes[0].client()

        gi = info(ca)
        for f in ("gc_retention_ms", "gc_interval_ms", "gc_passes",
                  "gc_last_pass_ms", "gc_watermark_min",
                  "gc_pinned_by_snapshot", "disk_bytes"):
            assert f in gi, (f, gi)
        assert gi["gc_retention_ms"] == 1000 and gi["gc_interval_ms"] == 200
        assert gi["gc_pinned_by_snapshot"] == 0
        assert info(cb)["gc_interval_ms"] == 0

        # DKV.GC's syntax; a plain pass answers.
        try:
            ca.execute_command("DKV.GC", "NOW")
            raise AssertionError("DKV.GC NOW accepted")
        except redis.exceptions.ResponseError as e:
            assert "syntax" in str(e), e
        f = gc(ca, compact=False)
        assert f["shards"] == 4, f

        t0 = time.time()
        rounds, new_a, ep_a, val_a = workload(ca)
        ta = time.time() - t0
        passes_mid = info(ca)["gc_passes"]
        time.sleep(0.6)
        passes_after = info(ca)["gc_passes"]
        assert passes_after > passes_mid >= 1, (passes_mid, passes_after)
        background_a = info(ca)["disk_bytes"]
        assert background_a > 0
        t0 = time.time()
        _, new_b, ep_b, val_b = workload(cb, rounds)
        tb = time.time() - t0
        assert info(cb)["gc_passes"] == 0  # no background GC there
        background_b = gc(cb, compact=False)["disk_bytes"]  # W stays put

        time.sleep(1.5)  # past A's retention: only the newest stays
        fa, fb = gc(ca), gc(cb)
        assert fa["shards"] == 4 and fb["shards"] == 4, (fa, fb)
        assert fa["watermark_min"] > ep_a, (fa, ep_a)
        assert 0 < fb["watermark_max"] < ep_b, (fb, ep_b)
        print("workload: %d rounds of %d keys x %d B (A %.1f s, B %.1f s)"
              % (rounds, KEYS, VALUE, ta, tb))
        print("disk after DKV.GC COMPACT: with GC %d bytes, without GC %d "
              "bytes (ratio %.3f)" % (fa["disk_bytes"], fb["disk_bytes"],
                                      fa["disk_bytes"] /
                                      max(fb["disk_bytes"], 1)))
        print("disk right after the workload, before DKV.GC COMPACT: with "
              "background GC %d bytes, without GC %d bytes"
              % (background_a, background_b))
        assert background_a < background_b, (background_a, background_b)
        assert fb["disk_bytes"] > 3 * fa["disk_bytes"], (fa, fb)
        # INFO shows the last pass's figure (a background pass may have
        # run since DKV.GC).
        assert 0 < info(ca)["disk_bytes"] < fb["disk_bytes"]

        check_values(ca, new_a)
        check_values(cb, new_b)
        # History: refused below A's watermark, kept on B.
        try:
            read_at(ca, ep_a)
            raise AssertionError("A read below its watermark")
        except redis.exceptions.ResponseError as e:
            assert "too old" in str(e), e
        got = read_at(cb, ep_b)
        assert got[1] == [HKEY.encode(), val_b], got

        # Watermarks only move up; passes keep counting.
        passes = info(ca)["gc_passes"]
        f2 = gc(ca, compact=False)
        assert f2["watermark_min"] >= fa["watermark_min"], (fa, f2)
        assert info(ca)["gc_passes"] > passes

        # SIGTERM while a DKV.GC COMPACT runs: answered or closed, and a
        # clean exit (the pass ends before the loop closes).
        nd = a.nodes[0]
        done = {}

        def long_gc():
            try:
                done["r"] = gc(nd.client())
            except redis.exceptions.RedisError as e:
                done["e"] = e

        t = threading.Thread(target=long_gc)
        t.start()
        time.sleep(0.05)
        nd.proc.send_signal(signal.SIGTERM)
        rc = nd.proc.wait(timeout=30)
        nd.proc = None
        t.join(timeout=30)
        assert rc == 0, "dkvd exited with %d" % rc
        assert done, "DKV.GC never returned"
        # Restarted, the watermark is still there.
        with gc_env(1000, 200):
            nd.start()
        f3 = gc(nd.client(), compact=False)
        assert f3["watermark_min"] >= f2["watermark_min"], (f2, f3)
        check_values(nd.client(), new_a)

        # A live snapshot pins: the watermark stays at or below its epoch
        # and what it saw stays readable, past the retention.
        c = nd.client()
        c.set("{h}pinned", "old")
        snap = c.execute_command("DKV.SNAPSHOT", "CREATE", "gc-pin")
        snap_epoch = int(snap[1])
        c.set("{h}pinned", "new")
        time.sleep(1.5)
        f4 = gc(c)
        assert f4["watermark_max"] <= snap_epoch, (f4, snap_epoch)
        gi = info(c)
        assert gi["gc_retention_ms"] == 1000, gi
        assert gi["gc_pinned_by_snapshot"] == 1, (gi, snap_epoch)
        assert c.execute_command("DKV.AT", "gc-pin", "GET",
                                 "{h}pinned") == b"old"
        assert c.get("{h}pinned") == b"new"
    finally:
        for cl in (a, b):
            if cl is not None:
                cl.close()
    print("ok (%.1f s)" % (time.time() - t_start))


if __name__ == "__main__":
    main()
