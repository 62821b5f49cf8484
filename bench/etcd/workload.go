package main

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/clientv3"
)

const (
	maxAttempts  = 100    // attempts of one transfer before it is given up
	startBalance = "1000" // every account's balance after load-T
)

// run is the state the clients share.
type run struct {
	cfg      *config
	ctx      context.Context // cancelled on a fatal error
	cancel   context.CancelFunc
	deadline time.Time
	claimed  int64 // operations started (or completed), all clients
	failOnce sync.Once
	fatal    error
	zipf     *zipfian
}

// fail records the first fatal error and stops every client.
func (r *run) fail(err error) {
	r.failOnce.Do(func() {
		r.fatal = err
		r.cancel()
	})
}

// claim reserves one operation of the --ops budget, false when the run is
// over (time, budget or a fatal error).
func (r *run) claim() bool {
	if r.ctx.Err() != nil || !time.Now().Before(r.deadline) {
		return false
	}
	return atomic.AddInt64(&r.claimed, 1) <= r.cfg.ops
}

// unclaim gives back the reservation of an operation that did not complete.
func (r *run) unclaim() { atomic.AddInt64(&r.claimed, -1) }

// worker is one logical client.
type worker struct {
	r    *run
	id   int
	cli  *clientv3.Client
	rng  *rand.Rand
	pool []byte // printable ASCII; values are slices of it
	rec  recorder
}

func newWorker(r *run, id int, cli *clientv3.Client) *worker {
	w := &worker{r: r, id: id, cli: cli,
		rng: rand.New(rand.NewSource(int64(r.cfg.seed + uint64(id))))}
	w.pool = make([]byte, r.cfg.valueSize+256)
	for i := range w.pool {
		w.pool[i] = byte(' ' + 1 + w.rng.Intn(94)) // '!'..'~'
	}
	return w
}

// recordKey is record i's key: k{GGGGGGG}IIIIIIIII.
func recordKey(i int64) string { return fmt.Sprintf("k{%07d}%09d", i/100, i) }

// groupEnd is the end of record i's group: k{GGGGGGG} and the byte 0xFF.
func groupEnd(i int64) string { return fmt.Sprintf("k{%07d}\xff", i/100) }

// accountKey is account j's key of workload T.
func accountKey(j int64) string { return fmt.Sprintf("acct:%06d", j) }

// value is a new value of --value-size printable bytes.
func (w *worker) value() string {
	off := w.rng.Intn(len(w.pool) - w.r.cfg.valueSize + 1)
	return string(w.pool[off : off+w.r.cfg.valueSize])
}

// pick chooses a record (or account) among n by --dist.
func (w *worker) pick(n int64) int64 {
	if w.r.cfg.zipfian {
		return w.r.zipf.next(w.rng)
	}
	return w.rng.Int63n(n)
}

// failed handles a request's error: false when the client must stop.
func (w *worker) failed(err error, what string) bool {
	switch classify(err, w.r.ctx) {
	case errReply:
		w.rec.errors++
		return true
	case errTimeout:
		w.r.fail(fmt.Errorf("%s: request timed out after %gs", what, w.r.cfg.timeout.Seconds()))
	case errFatal:
		w.r.fail(fmt.Errorf("%s: %v", what, err))
	}
	return false
}

func (w *worker) reqCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(w.r.ctx, w.r.cfg.timeout)
}

// outcome of one operation.
type outcome int

const (
	done    outcome = iota // completed: counted in ops
	errored                // an error reply (already counted), or given up
	stop                   // fatal error or run stopped
)

func (w *worker) put(key, val, what string) outcome {
	ctx, cancel := w.reqCtx()
	defer cancel()
	if _, err := w.cli.Put(ctx, key, val); err != nil {
		if w.failed(err, what+" "+key) {
			return errored
		}
		return stop
	}
	return done
}

func (w *worker) get(key string) outcome {
	ctx, cancel := w.reqCtx()
	defer cancel()
	resp, err := w.cli.Get(ctx, key)
	if err != nil {
		if w.failed(err, "get "+key) {
			return errored
		}
		return stop
	}
	if len(resp.Kvs) != 1 || len(resp.Kvs[0].Value) == 0 {
		w.r.fail(fmt.Errorf("get %s: record missing (%d keys back)", key, len(resp.Kvs)))
		return stop
	}
	return done
}

// scan asks for 1..--scan-max records from record i within its group.
func (w *worker) scan(i int64) outcome {
	limit := 1 + w.rng.Int63n(int64(w.r.cfg.scanMax))
	from := recordKey(i)
	ctx, cancel := w.reqCtx()
	defer cancel()
	resp, err := w.cli.Get(ctx, from, clientv3.WithRange(groupEnd(i)),
		clientv3.WithLimit(limit))
	if err != nil {
		if w.failed(err, "scan "+from) {
			return errored
		}
		return stop
	}
	n := int64(len(resp.Kvs))
	if n < 1 || n > limit || string(resp.Kvs[0].Key) != from {
		w.r.fail(fmt.Errorf("scan %s limit %d: %d records back, not starting at %s", from, limit, n, from))
		return stop
	}
	return done
}

// balance reads one Get of a read transaction: value and ModRevision.
func (w *worker) balance(r *clientv3.TxnResponse, i int, key string) (int64, int64, bool) {
	rr := r.Responses[i].GetResponseRange()
	if rr == nil || len(rr.Kvs) != 1 {
		w.r.fail(fmt.Errorf("transfer: account %s missing", key))
		return 0, 0, false
	}
	v, err := strconv.ParseInt(string(rr.Kvs[0].Value), 10, 64)
	if err != nil {
		w.r.fail(fmt.Errorf("transfer: account %s holds %q, not a balance", key, rr.Kvs[0].Value))
		return 0, 0, false
	}
	return v, rr.Kvs[0].ModRevision, true
}

// transfer moves 1..10 from one account to another: a read transaction,
// then a write transaction conditioned on both ModRevisions, retried on
// the same pair with fresh reads when the condition fails.
func (w *worker) transfer() outcome {
	n := int64(w.r.cfg.accounts)
	a := w.pick(n)
	b := w.pick(n)
	for b == a {
		b = w.pick(n)
	}
	ka, kb := accountKey(a), accountKey(b)
	amt := 1 + w.rng.Int63n(10)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		ctx, cancel := w.reqCtx()
		rd, err := w.cli.Txn(ctx).Then(clientv3.OpGet(ka), clientv3.OpGet(kb)).Commit()
		cancel()
		if err != nil {
			if w.failed(err, "transfer read "+ka+" "+kb) {
				return errored
			}
			return stop
		}
		if len(rd.Responses) != 2 {
			w.r.fail(fmt.Errorf("transfer read: %d responses, not 2", len(rd.Responses)))
			return stop
		}
		va, ra, ok := w.balance(rd, 0, ka)
		if !ok {
			return stop
		}
		vb, rb, ok := w.balance(rd, 1, kb)
		if !ok {
			return stop
		}
		ctx, cancel = w.reqCtx()
		wr, err := w.cli.Txn(ctx).If(
			clientv3.Compare(clientv3.ModRevision(ka), "=", ra),
			clientv3.Compare(clientv3.ModRevision(kb), "=", rb),
		).Then(
			clientv3.OpPut(ka, strconv.FormatInt(va-amt, 10)),
			clientv3.OpPut(kb, strconv.FormatInt(vb+amt, 10)),
		).Commit()
		cancel()
		if err != nil {
			if w.failed(err, "transfer write "+ka+" "+kb) {
				return errored
			}
			return stop
		}
		if wr.Succeeded {
			return done
		}
		w.rec.aborts++
	}
	w.rec.gaveUp++
	return errored
}

// operation runs one operation of a timed workload and says its kind.
func (w *worker) operation() (opKind, outcome) {
	cfg := w.r.cfg
	if cfg.workload == "T" {
		return opTransfer, w.transfer()
	}
	i := w.pick(int64(cfg.keys))
	x := w.rng.Intn(100)
	switch cfg.workload {
	case "A":
		if x < 50 {
			return opRead, w.get(recordKey(i))
		}
	case "B":
		if x < 95 {
			return opRead, w.get(recordKey(i))
		}
	case "C":
		return opRead, w.get(recordKey(i))
	case "E":
		if x < 95 {
			return opScan, w.scan(i)
		}
	case "F":
		if x < 50 {
			return opRead, w.get(recordKey(i))
		}
		k := recordKey(i)
		if o := w.get(k); o != done {
			return opRmw, o
		}
		return opRmw, w.put(k, w.value(), "rmw")
	}
	return opUpdate, w.put(recordKey(i), w.value(), "update")
}

// loop runs closed-loop operations until the run is over.
func (w *worker) loop() {
	for w.r.claim() {
		t0 := time.Now()
		k, o := w.operation()
		switch o {
		case done:
			w.rec.add(k, time.Since(t0))
		case errored:
			w.r.unclaim()
		case stop:
			return
		}
	}
}

// load writes this client's share of the records (or accounts) once:
// those i with i = id (mod clients).
func (w *worker) load() {
	cfg := w.r.cfg
	n, key := int64(cfg.keys), recordKey
	if cfg.workload == "load-T" {
		n, key = int64(cfg.accounts), accountKey
	}
	for i := int64(w.id); i < n && w.r.ctx.Err() == nil; i += int64(cfg.clients) {
		val := startBalance
		if cfg.workload == "load" {
			val = w.value()
		}
		t0 := time.Now()
		switch w.put(key(i), val, "load") {
		case done:
			w.rec.add(opLoad, time.Since(t0))
		case stop:
			return
		}
	}
}
