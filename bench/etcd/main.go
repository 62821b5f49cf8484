// dkv-bench-etcd: the comparison benchmark's load generator for etcd.
//
// It drives an etcd cluster through etcd's own Go client (clientv3) with
// the workloads of bench/workloads.md (load, load-T, A, B, C, E, F, T),
// taking the same command line and printing the same result as dkv-bench,
// its C twin for dkv and Redis, so that bench/bench.py runs both alike.
// bench/workloads.md is the contract; bench/etcd/README.md says how this
// driver is built and where etcd makes it differ.
package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"
)

func main() {
	cfg := parseFlags(os.Args[1:])
	os.Exit(runBench(cfg))
}

// runBench connects, runs the workload and prints the result; it returns
// the exit status.
func runBench(cfg *config) int {
	per, objs, err := connectAll(cfg.addrs, cfg.clients, cfg.timeout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dkv-bench-etcd: %v\n", err)
		return 1
	}
	defer func() {
		for _, o := range objs {
			o.Close()
		}
	}()

	r := &run{cfg: cfg}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	defer r.cancel()
	if cfg.zipfian {
		n := int64(cfg.keys)
		if cfg.workload == "T" || cfg.workload == "load-T" {
			n = int64(cfg.accounts)
		}
		r.zipf = newZipfian(n)
	}
	workers := make([]*worker, cfg.clients)
	for c := range workers {
		workers[c] = newWorker(r, c, per[c])
	}

	start := time.Now() // every client object is connected and answered
	r.deadline = start.Add(cfg.seconds)
	loading := cfg.workload == "load" || cfg.workload == "load-T"
	if loading {
		r.deadline = start.Add(100 * 365 * 24 * time.Hour)
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func(w *worker) {
			defer wg.Done()
			if loading {
				w.load()
			} else {
				w.loop()
			}
		}(w)
	}
	wg.Wait()
	if r.fatal != nil {
		fmt.Fprintf(os.Stderr, "dkv-bench-etcd: %v\n", r.fatal)
		return 1
	}

	recs := make([]*recorder, len(workers))
	for i, w := range workers {
		recs[i] = &w.rec
	}
	t := merge(recs)
	res := result{cfg: cfg, t: t}
	if t.last.After(start) { // no completion: no time measured
		res.seconds = t.last.Sub(start).Seconds()
	}
	if cfg.json {
		fmt.Println(res.json())
	} else {
		fmt.Println(res.text())
	}
	return 0
}
