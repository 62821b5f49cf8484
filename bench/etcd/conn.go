package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
	"go.etcd.io/etcd/pkg/logutil"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// pingKey is read once on every client object before the clock starts.
const pingKey = "dkv-bench-etcd:ping"

// connect opens one clientv3 client on one endpoint and has a first
// request answered. A TCP probe first makes a refused address fail at
// once rather than after gRPC's dial timeout.
func connect(addr string, timeout time.Duration) (*clientv3.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	conn.Close()
	// The client's own log (a warning per cancelled retry, on stderr) is
	// silenced: what goes wrong comes back as errors, reported once.
	lcfg := logutil.DefaultZapLoggerConfig
	lcfg.Level = zap.NewAtomicLevelAt(zap.FatalLevel)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{"http://" + addr},
		DialTimeout: timeout,
		DialOptions: []grpc.DialOption{grpc.WithBlock()},
		LogConfig:   &lcfg,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := cli.Get(ctx, pingKey); err != nil {
		cli.Close()
		return nil, err
	}
	return cli, nil
}

// connectAll makes the client objects: logical client c talks to
// addrs[c % len(addrs)], and the logical clients of one address share a
// clientv3 client per 16 of them. It returns each logical client's object
// and the list of distinct objects (to close them).
func connectAll(addrs []string, clients int, timeout time.Duration) ([]*clientv3.Client, []*clientv3.Client, error) {
	type slot struct{ addr, group int }
	objs := map[slot]*clientv3.Client{}
	var list []*clientv3.Client
	per := make([]*clientv3.Client, clients)
	for c := 0; c < clients; c++ {
		s := slot{c % len(addrs), c / len(addrs) / 16}
		cli, ok := objs[s]
		if !ok {
			var err error
			cli, err = connect(addrs[s.addr], timeout)
			if err != nil {
				for _, o := range list {
					o.Close()
				}
				return nil, nil, fmt.Errorf("cannot connect to %s: %v", addrs[s.addr], err)
			}
			objs[s] = cli
			list = append(list, cli)
		}
		per[c] = cli
	}
	return per, list, nil
}

// errKind says what a failed request means for the run.
type errKind int

const (
	errReply   errKind = iota // the server answered with an error: counted
	errTimeout                // the request timed out: fatal
	errStopped                // the run was stopped meanwhile: not an error
	errFatal                  // transport or protocol failure: fatal
)

// classify sorts a request's error; stop is the run's context.
func classify(err error, stop context.Context) errKind {
	if stop.Err() != nil {
		return errStopped
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errTimeout
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return errReply // etcdserver's own errors ("etcdserver: ...")
	}
	st, ok := status.FromError(err)
	if !ok {
		return errFatal
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		return errTimeout
	case codes.Unavailable, codes.Canceled, codes.Internal,
		codes.Unimplemented, codes.Unknown:
		return errFatal
	}
	return errReply
}
