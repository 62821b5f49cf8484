#!/usr/bin/python3
"""The transaction layer inside real dkvd processes, driven by hand.

A 3-node cluster; this script plays a client coordinator (its id has bit
63 set) and speaks DKV.TXN (docs/proto.md, "Transaction messages on the
wire") to the nodes: one-shard commits (COMMIT1), two-phase commits whose
shards live on two nodes (PREPARE_L to the leader, the lowest write
shard), transactional reads, conflicts answered RESTART, plain commands
waiting for a transaction's intent, malformed messages refused while the
node keeps serving, and commits surviving a SIGKILL of every node.
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(__file__))
from cluster import Cluster  # noqa: E402

SHARD, COORD = 1, 2
TX_RESTART = -14
COORD_ID = (1 << 63) | random.getrandbits(40)


def epoch(c):
    return int(c.execute_command("DKV.EPOCH"))


def txid(ts):
    return "%016x%016x" % (ts, random.getrandbits(64))


def writes(ws):
    out = [str(len(ws))]
    for shard, key, val in ws:
        kind = 2 if val is None else 1
        out += [str(shard), str(kind), key, "" if val is None else val]
    return out


def reads(rs):
    out = [str(len(rs))]
    for shard, key, ep in rs:
        out += [str(shard), key, str(ep)]
    return out


def send(c, typ, to_shard, fields):
    return c.execute_command("DKV.TXN", typ, str(COORD), str(COORD_ID),
                             str(SHARD), str(to_shard), *fields)


def outcome(reply):
    """(rc, tc) of an OUTCOME message."""
    assert reply is not None, "no answer"
    f = [x.decode() for x in reply]
    assert f[0] == "DKV.TXN" and f[1] == "OUTCOME", f
    return int(f[7]), int(f[9])


def commit1(c, shard, ts, ws, rs=()):
    t = txid(ts)
    return outcome(send(c, "COMMIT1", shard,
                        [t, str(ts), str(ts)] + writes(ws) + reads(rs) +
                        ["0"]))


def prepare_l(c, leader, ts, parts, ws, rs=()):
    t = txid(ts)
    return outcome(send(c, "PREPARE_L", leader,
                        [t, str(ts), str(ts), str(len(parts))] +
                        [str(p) for p in sorted(parts)] + writes(ws) +
                        reads(rs) + ["0"]))


def txn_read(c, shard, ts, key):
    t = txid(ts)
    rid = random.getrandbits(32)
    r = send(c, "READ", shard, [t, str(rid), str(ts), str(ts), key])
    f = r
    assert f[1] == b"READ_REPLY" and int(f[7]) == rid, f
    return int(f[8]), int(f[10]), f[11]   # rc, epoch, value


def keys_on_two_nodes(cl, c):
    """Two keys whose shards live on different nodes, and their shards."""
    seen = {}
    for i in range(1000):
        k = "acct:%d" % i
        r = c.execute_command("DKV.SHARDOF", k)
        shard, node = int(r[0]), int(r[1])
        seen.setdefault(node, (k, shard))
        if len(seen) >= 2:
            (ka, sa), (kb, sb) = list(seen.values())[:2]
            return (ka, sa), (kb, sb)
    raise AssertionError("keys do not spread over nodes")


def main():
    with Cluster(n=3, shards=6) as cl:
        c = cl.nodes[0].client()
        (ka, sa), (kb, sb) = keys_on_two_nodes(cl, c)

        # One shard, one round: COMMIT1, then plain GETs see it.
        ts = epoch(c)
        rc, tc = commit1(c, sa, ts, [(sa, ka, "100")])
        assert rc == 0 and tc > ts, (rc, tc, ts)
        for nd in cl.nodes:
            assert nd.client().get(ka) == b"100"

        # A transactional read at a later epoch sees it, with its epoch.
        rc, ep, val = txn_read(c, sa, epoch(c), ka)
        assert rc == 0 and ep == tc and val == b"100", (rc, ep, val)

        # Two nodes: a transfer as a two-phase commit led by the lowest
        # write shard, reading both accounts at ts.
        c.set(kb, "50")
        ts = epoch(c)
        ra = txn_read(c, sa, ts, ka)
        rb = txn_read(c, sb, ts, kb)
        leader = min(sa, sb)
        rc, tc = prepare_l(c, leader, ts, {sa, sb},
                           [(sa, ka, "70"), (sb, kb, "80")],
                           [(sa, ka, ra[1]), (sb, kb, rb[1])])
        assert rc == 0 and tc > ts, (rc, tc)
        vals = [int(nd.client().get(ka)) + int(nd.client().get(kb))
                for nd in cl.nodes]
        assert vals == [150, 150, 150], vals

        # A conflict: the read set changed since ts -> RESTART.
        ts = epoch(c)
        ra = txn_read(c, sa, ts, ka)
        c.set(ka, "999")  # a plain write after the read
        rc, _ = commit1(c, sa, ts, [(sa, ka, "71")], [(sa, ka, ra[1])])
        assert rc == TX_RESTART, rc
        assert c.get(ka) == b"999"
        c.set(ka, "70")

        # Write-write: a version above ts on a written key, in a
        # transaction that read something -> RESTART (here it read the
        # newest version, so only write-write can refuse it).
        ts = epoch(c)
        c.set(kb, "81")
        rb = txn_read(c, sb, epoch(c), kb)
        rc, _ = commit1(c, sb, ts, [(sb, kb, "82")], [(sb, kb, rb[1])])
        assert rc == TX_RESTART, rc
        assert c.get(kb) == b"81"
        # Blind writes (nothing read) commit above it, as a plain SET.
        rc, tc = commit1(c, sb, ts, [(sb, kb, "83")])
        assert rc == 0 and tc > rb[1], (rc, tc, rb)
        assert c.get(kb) == b"83"
        c.set(kb, "80")

        # A prepared intent whose leader never decides (it has no record
        # of the transaction): plain commands on the key wait for it, the
        # follower asks the leader, learns ABORTED, and they go on; the
        # intent's value is never seen.
        ts = epoch(c)
        other = next(s for s in range(6) if s != sb)
        t = txid(ts)
        r = c.execute_command("DKV.TXN", "PREPARE", str(SHARD), str(other),
                              str(SHARD), str(sb), t, str(ts), str(ts),
                              str(other), str(ts), *writes([(sb, kb, "777")]),
                              "0", "0")
        assert r == b"OK", r
        before = sum(int(nd.client().info("transactions")["txn_plain_waits"])
                     for nd in cl.nodes)
        assert c.get(kb) == b"80"
        c.set(kb, "80")
        after = sum(int(nd.client().info("transactions")["txn_plain_waits"])
                    for nd in cl.nodes)
        assert after > before, (before, after)
        assert c.get(kb) == b"80"

        # Malformed messages get an error; the node keeps serving.
        for bad in (["DKV.TXN", "NOPE", "1", "1", "1", "1", "x"],
                    ["DKV.TXN", "READ", "2", "x", "1", "0", "a", "b"],
                    ["DKV.TXN", "COMMIT1", "2", "1", "1", str(sa),
                     "0" * 32, "1", "1", "999999999", "x"]):
            try:
                c.execute_command(*bad)
                raise AssertionError("accepted: %r" % bad)
            except Exception as e:  # redis.ResponseError
                assert "DKV.TXN" in str(e) and "PROTO" in str(e), e
        assert c.ping()

        # Commits survive SIGKILL of every node.
        for nd in cl.nodes:
            nd.kill()
        for nd in cl.nodes:
            nd.start()
        c = cl.nodes[1].client()
        assert int(c.get(ka)) + int(c.get(kb)) == 150
        ts = epoch(c)
        rc, _ = commit1(c, sb, ts, [(sb, kb, "90")])
        assert rc == 0, rc
        assert cl.nodes[2].client().get(kb) == b"90"
    print("ok")


if __name__ == "__main__":
    main()
