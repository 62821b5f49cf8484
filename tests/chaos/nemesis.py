"""Nemeses of the fault tests (tests/chaos/README.md): faults injected into
a running cluster of real dkvd processes, composable and seeded.

Every nemesis has the same three calls, made from one nemesis thread:

  start(cl)      before the workload begins (may set up the environment)
  act(rnd)       one fault and its repair, then returns; called in a loop
                 with a pause between calls until the run's time is up
  heal()         after the run: undo every fault still in force, restart
                 every node that is down, make the cluster whole again

and counts what it did in `faults` (a dict of counters). A Composite runs
several, picking one at random per act.
"""
import os
import signal
import time


def node_up(nd):
    return nd.proc is not None and nd.proc.poll() is None


def restart(nd, errors):
    """Starts a node that is down (and reaps one that died by itself).
    A node may die again while it recovers (a fault point hit by its own
    recovery): tried a bounded number of times."""
    for _ in range(10):
        try:
            if nd.proc is not None and nd.proc.poll() is not None:
                nd.proc = None
            nd.kill()
            nd.start()
            return True
        except TimeoutError:
            continue
    errors.append("node %d does not come back" % nd.id)
    return False


class Nemesis:
    name = "none"

    def __init__(self):
        self.faults = {}
        self.errors = []
        self.cl = None

    def count(self, what, n=1):
        self.faults[what] = self.faults.get(what, 0) + n

    def start(self, cl):
        self.cl = cl

    def act(self, rnd):
        time.sleep(0.5)

    def heal(self):
        for nd in self.cl.nodes:
            if not node_up(nd):
                restart(nd, self.errors)


class Kill(Nemesis):
    """SIGKILL of a random node, restarted 0.2-1.5 s later."""
    name = "kill"

    def act(self, rnd):
        nd = rnd.choice(self.cl.nodes)
        if node_up(nd):
            nd.kill()
            self.count("kill")
        time.sleep(rnd.uniform(0.2, 1.5))
        if restart(nd, self.errors):
            self.count("restart")


class FaultPoints(Nemesis):
    """Nodes kill themselves at the transaction layer's injected fault
    points (DKV_TXN_FAULT: right before or after one of its durable
    writes, e.g. a leader between its record and its PREPAREs); this
    nemesis restarts whoever died."""
    name = "faultpoints"

    def __init__(self, seed, rate=0.002):
        super().__init__()
        self.spec = "submit=%g,done=%g,seed=%d" % (rate, rate, seed)

    def start(self, cl):
        super().start(cl)
        os.environ["DKV_TXN_FAULT"] = self.spec
        for nd in cl.nodes:  # restarted with the fault points armed
            nd.kill()
            restart(nd, self.errors)

    def act(self, rnd):
        time.sleep(rnd.uniform(0.3, 0.8))
        for nd in self.cl.nodes:
            if not node_up(nd):
                self.count("died at a fault point")
                if restart(nd, self.errors):
                    self.count("restart")

    def heal(self):
        os.environ.pop("DKV_TXN_FAULT", None)
        for nd in self.cl.nodes:  # disarmed
            nd.kill()
            restart(nd, self.errors)


class Pause(Nemesis):
    """SIGSTOP of a random node for 2.5-6 s (longer than the prepare
    timeout, 2 s, and often than the read timeout, 5 s), then SIGCONT: a
    node that is merely slow must not be treated as dead in a way that
    breaks atomicity."""
    name = "pause"

    def __init__(self):
        super().__init__()
        self.paused = None

    def act(self, rnd):
        nd = rnd.choice(self.cl.nodes)
        if not node_up(nd):
            restart(nd, self.errors)
            return
        os.kill(nd.proc.pid, signal.SIGSTOP)
        self.paused = nd
        self.count("pause")
        time.sleep(rnd.uniform(2.5, 6.0))
        self.resume()
        time.sleep(rnd.uniform(0.5, 1.5))

    def resume(self):
        nd, self.paused = self.paused, None
        if nd is not None and node_up(nd):
            os.kill(nd.proc.pid, signal.SIGCONT)

    def heal(self):
        self.resume()
        super().heal()


class Composite(Nemesis):
    def __init__(self, parts):
        super().__init__()
        self.parts = parts
        self.name = "+".join(p.name for p in parts)

    def start(self, cl):
        super().start(cl)
        for p in self.parts:
            p.start(cl)

    def act(self, rnd):
        rnd.choice(self.parts).act(rnd)

    def heal(self):
        for p in reversed(self.parts):
            p.heal()

    def merged(self):
        faults, errors = {}, []
        for p in self.parts:
            for k, v in p.faults.items():
                faults[k] = faults.get(k, 0) + v
            errors += p.errors
        return faults, errors


def make(names, seed):
    """A nemesis from a '+'-separated list of names: none, kill,
    faultpoints, pause."""
    table = {"none": Nemesis, "kill": Kill, "pause": Pause,
             "faultpoints": lambda: FaultPoints(seed)}
    parts = []
    for n in names.split("+"):
        if n not in table:
            raise ValueError("unknown nemesis %r (known: %s)" %
                             (n, ", ".join(sorted(table))))
        parts.append(table[n]())
    return Composite(parts)
