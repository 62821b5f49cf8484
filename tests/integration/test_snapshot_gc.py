#!/usr/bin/python3
"""History GC and snapshots on a 3-node cluster (docs/snap.md, "GC").

The nodes keep 1 s of history (gc.retention_ms=1000) and collect every
200 ms. A snapshot is taken of the first values of 400 keys; the keys are
then overwritten 60 times with 4 KiB values; DKV.GC COMPACT runs on every
node.

Checks:
  - the snapshot still reads its values, exactly, after GC (pinned);
  - GC collects between the snapshot and the present: with the snapshot
    pinned, the table files (.sst) hold a small fraction of what was
    written (about two versions per key, not sixty);
  - an epoch below the snapshot, and one between the snapshot and the
    retention cutoff (not pinned), are refused with "epoch too old";
  - destroying the snapshot lets its versions go: after DKV.GC COMPACT
    the table files shrink further, and the snapshot's epoch becomes
    "epoch too old";
  - the newest values are intact throughout.
Prints the figures (table files; the WAL, bounded by RocksDB's own
limits, is not GC's to shrink).
"""
import os
import sys
import time

import redis

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster, wait_until  # noqa: E402

KEYS = 400
ROUNDS = 60
VSIZE = 4096


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def gc_all(cl):
    """DKV.GC COMPACT on every node; the bytes of their table files."""
    for nd in cl.nodes:
        r = nd.client().execute_command("DKV.GC", "COMPACT")
        fields = dict(zip(r[0::2], r[1::2]))
        assert int(fields[b"disk_bytes"]) > 0
    total = 0
    for nd in cl.nodes:
        for f in os.listdir(nd.dir):
            if f.endswith(".sst"):
                total += os.path.getsize(os.path.join(nd.dir, f))
    return total


def expect_too_old(c, *args):
    try:
        c.execute_command("DKV.AT", *args)
    except redis.ResponseError as e:
        check("too old" in str(e), "expected epoch too old, got %r" % e)
        return
    raise AssertionError("read below the watermark was answered")


def main():
    os.environ["DKV_GC_RETENTION_MS"] = "1000"
    os.environ["DKV_GC_INTERVAL_MS"] = "200"
    # A small write buffer keeps the WAL (counted in disk_bytes, and not
    # GC's to shrink) well below the data written.
    os.environ["DKV_STORE_WRITE_BUFFER_MB"] = "4"
    keys = ["gc:%04d" % i for i in range(KEYS)]
    with Cluster(n=3, shards=6) as cl:
        c = cl.nodes[0].client()
        before = int(c.execute_command("DKV.EPOCH"))
        # As big as the later values: destroying the snapshot frees them.
        first = {k: b"first-" + os.urandom(VSIZE) for k in keys}
        for i in range(0, KEYS, 100):
            c.mset({k: first[k] for k in keys[i:i + 100]})
        time.sleep(0.05)
        _, epoch, _ = c.execute_command("DKV.SNAPSHOT", "CREATE", "pinned")
        last = {}
        mid = 0
        for r in range(ROUNDS):  # incompressible values
            if r == ROUNDS // 2:
                mid = int(c.execute_command("DKV.EPOCH"))
            p = c.pipeline(transaction=False)
            for k in keys:
                last[k] = b"%d-" % r + os.urandom(VSIZE)
                p.set(k, last[k])
            p.execute()
        time.sleep(1.5)  # older than the retention now
        pinned_disk = gc_all(cl)
        for nd in cl.nodes:  # every node answers at the snapshot
            got = nd.client().execute_command("DKV.AT", "pinned", "MGET", *keys)
            check(got == [first[k] for k in keys],
                  "the snapshot changed after GC (node %d)" % nd.id)
        written = KEYS * ROUNDS * VSIZE
        check(pinned_disk < written * 0.15,
              "GC kept too much with a snapshot pinned: %d of %d written"
              % (pinned_disk, written))
        expect_too_old(c, str(before), "GET", keys[0])
        # Between the snapshot and the cutoff, a version may be gone:
        # such reads are refused, never answered from a hole.
        expect_too_old(c, str(mid), "GET", keys[0])
        check(c.mget(keys) == [last[k] for k in keys], "newest values after GC")

        c.execute_command("DKV.SNAPSHOT", "DESTROY", "pinned")
        wait_until(lambda: all(nd.client().execute_command(
            "DKV.SNAPSHOT", "LIST") == [] for nd in cl.nodes),
            what="destroy everywhere")
        time.sleep(0.5)
        freed_disk = gc_all(cl)
        print("table files with the snapshot pinned: %.1f MiB; after "
              "destroy and GC: %.1f MiB (%.1f MiB written: %d keys x %d "
              "rounds x %d B)" %
              (pinned_disk / 1048576.0, freed_disk / 1048576.0,
               written / 1048576.0, KEYS, ROUNDS, VSIZE), flush=True)
        check(freed_disk < pinned_disk * 0.75,
              "space not released: %d -> %d" % (pinned_disk, freed_disk))
        expect_too_old(c, str(epoch), "GET", keys[0])
        check(c.mget(keys) == [last[k] for k in keys],
              "newest values after the second GC")
    print("ok")


if __name__ == "__main__":
    main()
