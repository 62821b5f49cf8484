/*
 * fake.h - a scripted RESP node on 127.0.0.1 for testing libdkv's retry
 * rules deterministically: it serves a one-node cluster map naming itself
 * and answers GET / SET from a script (errors, dropped connections).
 */
#ifndef DKV_TEST_FAKE_H
#define DKV_TEST_FAKE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum fake_mode {
	FAKE_OK,          /* GET -> "hello", SET and DKV.SNAPSHOT -> OK */
	FAKE_TRYAGAIN,    /* the next `left` GET/SET get -TRYAGAIN */
	FAKE_CLUSTERDOWN, /* ... -CLUSTERDOWN */
	FAKE_LOADING,     /* ... -LOADING (node shutting down) */
	FAKE_DROP,        /* ... the connection is closed, no reply */
	FAKE_SLOW,        /* ... no reply for `slow_ms` then a reply */
	FAKE_MOVED,       /* ... -MOVED 0 <moved_to> */
};

struct fake {
	int lfd;
	char addr[64];
	pthread_t thread;
	atomic_int stop;
	pthread_mutex_t lock;
	char *map_json;   /* served by DKV.MAP (lock) */
	char moved_to[64];
	atomic_int mode;
	atomic_int left;
	atomic_int gets, sets, maps, conns;
	int slow_ms;
	uint64_t version;
};

/* Starts the fake on a free port. 0 or -1. */
int fake_start(struct fake *f);
void fake_stop(struct fake *f);
/* Serves json (copied) from now on; its version also answers
 * DKV.SHARDOF. */
void fake_set_map(struct fake *f, const char *json, uint64_t version);
/* Scripts the next n data commands. */
void fake_script(struct fake *f, enum fake_mode mode, int n);

#endif
