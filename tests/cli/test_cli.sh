#!/bin/bash
# test_cli.sh DKV DKVD - the dkv tool end to end: a local cluster of three
# dkvd processes on free ports, data commands in raw and json modes, exit
# codes, cluster status and map, the shell, transactions (`dkv tx` files
# and the shell's begin/commit/abort), stop and restart with the data
# kept, and `cluster create` with range sharding on hand-started nodes.
#
# Bounded: every command runs under `timeout`; every process this test
# starts is stopped by its PID on exit, whatever happens.
set -euo pipefail

dkv=$1
export DKVD=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dkv-cli-test.XXXXXX")
dir=$tmp/cluster
extra_pids=()

cleanup() {
	local pids=() p f
	for f in "$dir"/node*/dkvd.pid; do
		[ -f "$f" ] && pids+=("$(cat "$f")")
	done
	pids+=("${extra_pids[@]}")
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for _ in $(seq 100); do
		local alive=0
		for p in "${pids[@]}"; do
			kill -0 "$p" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# d ARGS...: the tool, bounded in time.
d() { timeout 30 "$dkv" "$@"; }

# expect_rc RC ARGS...: runs the tool, checks its exit status.
expect_rc() {
	local want=$1 rc=0
	shift
	d "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" = "$want" ] || {
		cat "$tmp/out" "$tmp/err" >&2
		fail "dkv $* exited $rc, expected $want"
	}
}

# json EXPR: evaluates a Python expression over the JSON on stdin (j).
json() { python3 -c "import json,sys; j=json.load(sys.stdin); print(($1))"; }

# gone PID: the process has exited (a zombie not yet reaped by init counts).
gone() {
	for _ in $(seq 50); do
		kill -0 "$1" 2>/dev/null || return 0
		grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- help, version, usage errors ---------------------------------------------
d --help | grep -q '^Usage: dkv' || fail "--help"
d --version | grep -q '^dkv ' || fail "--version"
for c in get put del range shard-of tx begin commit abort "cluster create" "cluster status" \
	"cluster map" "local start" "local stop" "local status" cluster local; do
	# shellcheck disable=SC2086
	d $c --help | grep -q 'Usage: dkv' || fail "$c --help"
done
expect_rc 2 bogus
expect_rc 2 get
expect_rc 2 put onlykey
expect_rc 2 --output yaml get k
expect_rc 2 range a
expect_rc 2 local start
expect_rc 2 get --frobnicate k
expect_rc 2 tx a b
expect_rc 2 begin # the shell's only
# Over the line limit: refused before connecting (nothing listens yet).
head -c 1000001 /dev/zero | tr '\0' '\n' >"$tmp/long.tx"
expect_rc 2 tx "$tmp/long.tx"
grep -q '1000000 lines' "$tmp/err" || fail "tx line limit"

# --- local start ---------------------------------------------------------------
started=0
for attempt in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 20000))
	port_free $port && port_free $((port + 1)) && port_free $((port + 2)) ||
		continue
	if d -o json local start --nodes 3 --dir "$dir" --port $port \
		--shards 12 --durability none >"$tmp/start.json" 2>"$tmp/start.err"; then
		started=1
		break
	fi
	cat "$tmp/start.err" >&2
	d local stop --dir "$dir" >/dev/null 2>&1 || true
	rm -rf "$dir"
done
[ $started = 1 ] || fail "local start"
[ "$(json 'j["created"]' <"$tmp/start.json")" = True ] || fail "created"
[ "$(json 'len(j["nodes"])' <"$tmp/start.json")" = 3 ] || fail "3 nodes"
for i in 1 2 3; do
	[ -f "$dir/node$i/dkvd.pid" ] || fail "node$i pid file"
	[ -f "$dir/node$i/dkvd.log" ] || fail "node$i log"
done
pids1=$(cat "$dir"/node*/dkvd.pid)
export DKV_ADDR=127.0.0.1:$port

# --- data --------------------------------------------------------------------
[ "$(d put greeting 'hello world')" = OK ] || fail "put"
[ "$(d -o raw get greeting)" = "hello world" ] || fail "get raw"
[ "$(d -o json get greeting | json 'j["value"]')" = "hello world" ] ||
	fail "get json"
[ "$(d -h 127.0.0.1:$((port + 2)) -o raw get greeting)" = "hello world" ] ||
	fail "get through another node"
expect_rc 1 get missing-key
expect_rc 1 put --nx greeting other
expect_rc 1 put --xx missing-key other
[ "$(d -o raw get greeting)" = "hello world" ] || fail "nx overwrote"
[ "$(d put --xx greeting 'hi')" = OK ] || fail "put --xx"
[ "$(d -o json put --nx fresh-key v | json 'j["ok"]')" = True ] ||
	fail "put --nx json"
# Binary values through --stdin, exactly.
head -c 70000 /dev/urandom >"$tmp/blob"
d put --stdin blob <"$tmp/blob" >/dev/null
d -o raw get blob | head -c 70000 | cmp -s - "$tmp/blob" || fail "binary value"
[ "$(d -o json get blob | json '"value_hex" in j')" = True ] ||
	fail "binary value in json"
[ "$(d del greeting missing-key fresh-key)" = 2 ] || fail "del count"
[ "$(d -o json del greeting | json 'j["deleted"]')" = 0 ] || fail "del json"
expect_rc 1 get greeting

# Range: keys under one {hash tag}.
for i in $(seq -w 1 150); do
	printf 'put {r}k%s v%s\n' "$i" "$i"
done | d -o raw >/dev/null
[ "$(d -o raw range '{r}' '{r}~' --limit 3 | head -n 2 | tr '\n' ' ')" = \
	"{r}k001 v001 " ] || fail "range raw"
[ "$(d -o json range '{r}' '{r}~' | json 'len(j)')" = 100 ] ||
	fail "range default limit"
[ "$(d -o json range '{r}' '{r}~' --all | json 'len(j)')" = 150 ] ||
	fail "range --all"
[ "$(d -o json range '{r}' '{r}~' --rev --limit 1 | json 'j[0]["key"]')" = \
	"{r}k150" ] || fail "range --rev"
[ "$(d -o json range '{r}' '{r}~' --epochs --limit 2 |
	json 'all(x["epoch"] > 0 and x["time"].split("+")[0].endswith("Z") for x in j)')" = True ] ||
	fail "range --epochs"
[ "$(d range '{r}k010' '{r}k013')" = "$(printf '{r}k010\tv010\n{r}k011\tv011\n{r}k012\tv012')" ] ||
	fail "range plain"
expect_rc 3 range a z # spans shards under hash sharding
grep -q 'shard' "$tmp/err" || fail "range error names shards"

# shard-of agrees with the node's DKV.SHARDOF.
sj=$(d -o json shard-of '{r}k001')
shard=$(echo "$sj" | json 'j["shard"]')
[ "$(d -o raw shard-of '{r}k001')" = "$shard" ] || fail "shard-of raw"
if command -v redis-cli >/dev/null; then
	[ "$(timeout 10 redis-cli -p $port DKV.SHARDOF '{r}k001' | head -n 1)" = "$shard" ] ||
		fail "shard-of vs DKV.SHARDOF"
fi

# --- cluster status / map ---------------------------------------------------------
st=$(d -o json cluster status)
[ "$(echo "$st" | json 'len(j["nodes"])')" = 3 ] || fail "status nodes"
[ "$(echo "$st" | json 'all(n["reachable"] and n["state"] == "up" and n["map_version"] == 1 and n["shards"] == 4 for n in j["nodes"])')" = True ] ||
	fail "status: 3 nodes up"
[ "$(d cluster status | grep -c 'up	yes	1	4')" = 3 ] || fail "status plain"
# Transaction counters: an MSET across shards commits (a transaction).
timeout 10 redis-cli -p $port MSET '{a}x' 1 '{b}y' 2 '{c}z' 3 >/dev/null
# (Followers apply the commit after the answer: poll until they did.)
ok=
for i in $(seq 50); do
	if [ "$(d -o json cluster status | json 'sum(n["tx_commits"] for n in j["nodes"]) >= 1 and all(n["in_doubt"] == 0 and n["intents"] == 0 for n in j["nodes"])')" = True ]; then
		ok=1
		break
	fi
	sleep 0.1
done
[ -n "$ok" ] || fail "status: transaction counters"
[ "$(d -o json cluster map | json 'j["version"], j["family"]["nshards"]')" = "(1, 12)" ] ||
	fail "cluster map"
d cluster map | grep -q '"cluster": "local"' || fail "cluster map pretty"
[ "$(d -o json local status --dir "$dir" | json 'all(n["running"] and n["reachable"] for n in j)')" = True ] ||
	fail "local status"

# --- the shell, fed from a pipe --------------------------------------------------
out=$(printf 'put "sh key" "a\\tb"\nget "sh key"\nhelp\nquit\nget never\n' |
	d -o raw)
[ "$(echo "$out" | head -n 1)" = "$(printf 'a\tb')" ] || fail "shell: $out"

# --- transactions: dkv tx FILE -----------------------------------------------------
# Two accounts on different nodes (so on different shards).
ka= kb= na=
for i in $(seq 1 40); do
	n=$(d -o json shard-of "acct:$i" | json 'j["node"]')
	if [ -z "$ka" ]; then
		ka=acct:$i na=$n
	elif [ "$n" != "$na" ]; then
		kb=acct:$i
		break
	fi
done
[ -n "$kb" ] || fail "two keys on different nodes"
d put "$ka" 100 >/dev/null
d put "$kb" 50 >/dev/null
{
	echo "# move 30 from $ka to $kb"
	echo "get $ka"
	echo "get \"$kb\""
	echo
	echo "put $ka 70   "
	printf '\tput %s "80"\n' "'$kb'"
	echo "get $ka"
} >"$tmp/transfer.tx"
d -o raw tx "$tmp/transfer.tx" >"$tmp/out" 2>"$tmp/err" || fail "tx transfer"
# The reads of the run that committed; the last one sees the file's write.
[ "$(cat "$tmp/out")" = "$(printf '100\n50\n70')" ] || fail "tx reads: $(cat "$tmp/out")"
grep -q 'committed after 1 attempt' "$tmp/err" || fail "tx attempts on stderr"
[ "$(d -o raw get "$ka")" = 70 ] || fail "transfer: $ka"
[ "$(d -o raw get "$kb")" = 80 ] || fail "transfer: $kb"
# The same file from stdin, json output: its reads see the state above.
d -o json tx <"$tmp/transfer.tx" >"$tmp/tx.json" 2>/dev/null || fail "tx < file"
[ "$(json '[(x["line"], x["op"], x["value"]) for x in j["results"]]' <"$tmp/tx.json")" = \
	"[(2, 'get', '70'), (3, 'get', '80'), (7, 'get', '70')]" ] || fail "tx json"
[ "$(json 'j["attempts"]' <"$tmp/tx.json")" = 1 ] || fail "tx json attempts"
# Ranges merged with the file's writes, del, a missing key, escapes
# (binary values), "-" for stdin.
cat >"$tmp/range.tx" <<'TX'
put "{t}a" "x\ty\x00\xff"
put '{t}b' 'it\'s'
del {t}gone
range {t} {t}~
get {t}gone
del {t}b
range "{t}" "{t}~" --limit 5
TX
d -o json tx - <"$tmp/range.tx" >"$tmp/tx.json" 2>/dev/null || fail "tx range"
[ "$(json '[[(i["key"], i.get("value"), i.get("value_hex")) for i in x["items"]] if x["op"] == "range" else x["value"] for x in j["results"]]' <"$tmp/tx.json")" = \
	"[[('{t}a', None, '78097900ff'), ('{t}b', \"it's\", None)], None, [('{t}a', None, '78097900ff')]]" ] ||
	fail "tx range json: $(cat "$tmp/tx.json")"
[ "$(d -o raw get '{t}a' | od -An -tx1 | tr -d ' \n')" = 78097900ff0a ] ||
	fail "tx binary value"
expect_rc 1 get '{t}b'
# A syntax error: its line number, nothing sent (line 1 not written).
printf 'put {t}syn 1\n\nput "{t}open v\nget {t}a\n' >"$tmp/bad.tx"
expect_rc 2 tx "$tmp/bad.tx"
grep -q 'bad.tx:3: unbalanced quotes' "$tmp/err" || fail "syntax error line"
expect_rc 1 get '{t}syn'
# A failed --nx condition: exit 1, nothing written.
printf 'put {t}nx 1\nput %s 0 --nx\n' "$ka" >"$tmp/nx.tx"
expect_rc 1 tx "$tmp/nx.tx"
grep -q 'nx.tx:2: not stored' "$tmp/err" || fail "tx --nx message"
expect_rc 1 get '{t}nx'
# Concurrent read-modify-writes of one key, retried on conflicts: each
# committed run read what another wrote (no two read the same value),
# and printed the reads of that run only.
d put hot start >/dev/null
for i in 1 2 3 4; do
	{
		echo 'get hot'
		for k in $(seq 20); do echo "get filler$k"; done
		echo "put hot w$i"
	} >"$tmp/rmw$i.tx"
done
rmw=()
for i in 1 2 3 4; do
	d -o json tx "$tmp/rmw$i.tx" >"$tmp/rmw$i.json" 2>/dev/null &
	rmw+=($!)
done
for p in "${rmw[@]}"; do
	wait "$p" || fail "concurrent tx"
done
cat "$tmp"/rmw[1-4].json | python3 -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin]
reads = [r["results"][0]["value"] for r in rs]
assert all(len(r["results"]) == 21 for r in rs), rs
assert len(set(reads)) == 4 and "start" in reads, reads
' || fail "concurrent tx: lost update"

# --- transactions in the shell -----------------------------------------------------
out=$(printf 'begin\nput {t}s1 v1\nget {t}s1\nbegin\ncommit\n' | d -o raw 2>"$tmp/err")
[ "$(echo "$out" | head -n 1)" = v1 ] || fail "shell tx: read own write"
[ "$(echo "$out" | sed -n 2p)" -gt 0 ] || fail "shell tx: commit epoch: $out"
grep -q 'a transaction is open already' "$tmp/err" || fail "shell: begin twice"
[ "$(d -o raw get '{t}s1')" = v1 ] || fail "shell tx: committed"
printf 'begin\nput {t}s2 v2\nget {t}s2\nabort\nget {t}s1\n' | d -o raw >"$tmp/out" 2>&1 ||
	fail "shell tx abort"
[ "$(cat "$tmp/out")" = "$(printf 'v2\nv1')" ] || fail "shell abort: $(cat "$tmp/out")"
expect_rc 1 get '{t}s2'
# Input ending inside a transaction aborts it (exit 3).
printf 'begin\nput {t}s3 v3\n' | d >/dev/null 2>"$tmp/err" && fail "open tx at end"
grep -q 'aborted' "$tmp/err" || fail "open tx at end: message"
expect_rc 1 get '{t}s3'
[ "$(printf 'begin\ncommit\n' | d -o json | tail -n 1 | json 'j["committed"]')" = True ] ||
	fail "shell commit json"

# --- stop, restart, data kept --------------------------------------------------------
d -o json local stop --dir "$dir" >"$tmp/stop.json"
[ "$(json 'all(n["result"] == "stopped" for n in j)' <"$tmp/stop.json")" = True ] ||
	fail "stop"
for i in 1 2 3; do
	[ ! -f "$dir/node$i/dkvd.pid" ] || fail "node$i pid file left"
done
for p in $pids1; do
	gone "$p" || fail "process $p still running"
done
expect_rc 3 get '{r}k001'
[ "$(d -o json local stop --dir "$dir" | json 'j[0]["result"]')" = "not running" ] ||
	fail "second stop"

d -o json local start --dir "$dir" >"$tmp/start2.json" 2>"$tmp/start2.err" || {
	cat "$tmp/start2.err" >&2
	fail "restart"
}
[ "$(json 'j["created"]' <"$tmp/start2.json")" = False ] || fail "restart created"
[ "$(d -o raw get '{r}k077')" = v077 ] || fail "data after restart"
[ "$(d -o raw get 'sh key')" = "$(printf 'a\tb')" ] || fail "data after restart 2"
[ "$(d -o raw get "$kb")" = 80 ] || fail "transaction's data after restart"
[ "$(d -o json range '{r}' '{r}~' --all | json 'len(j)')" = 150 ] ||
	fail "range after restart"
[ "$(d -o json cluster status | json 'j["version"]')" = 1 ] || fail "map after restart"
d local stop --dir "$dir" >/dev/null || fail "final stop"
for i in 1 2 3; do
	[ ! -f "$dir/node$i/dkvd.pid" ] || fail "node$i pid file left"
done

# --- cluster create on hand-started nodes, range sharding -----------------------------
cports=()
for i in 1 2; do
	# A port free when picked may be taken by another test's process
	# before this node binds it: then the node exits, and another port
	# is tried. The node is up once its log says it serves (10 s).
	for _ in 1 2 3 4 5; do
		p=$((20000 + RANDOM % 20000))
		port_free $p || continue
		mkdir -p "$tmp/c$i"
		"$DKVD" --node-id $i --node-listen 127.0.0.1:$p \
			--node-dir "$tmp/c$i" --store-durability none \
			>"$tmp/c$i.log" 2>&1 &
		pid=$!
		for _ in $(seq 100); do
			grep -q "serving on 127.0.0.1:$p" "$tmp/c$i.log" && break
			kill -0 $pid 2>/dev/null || break
			sleep 0.1
		done
		if grep -q "serving on 127.0.0.1:$p" "$tmp/c$i.log"; then
			extra_pids+=($pid)
			break
		fi
		kill $pid 2>/dev/null
		wait $pid 2>/dev/null
	done
	cports+=("$p")
done
export DKV_ADDR=127.0.0.1:${cports[0]}
expect_rc 3 cluster create --node 1=127.0.0.1:${cports[0]} --node 2=127.0.0.1:1 \
	--sharding range --splits m
grep -q unreachable "$tmp/err" || fail "create with a dead node"
expect_rc 2 cluster create --node 1=127.0.0.1:${cports[0]} --sharding range \
	--splits z,a
d -o json cluster create --node 1=127.0.0.1:${cports[0]} \
	--node 2=127.0.0.1:${cports[1]} --sharding range --splits m \
	--name ranged >"$tmp/create.json" 2>/dev/null || fail "cluster create"
[ "$(json 'j["family"]["kind"], j["family"]["nshards"], j["cluster"]' <"$tmp/create.json")" = \
	"('range', 2, 'ranged')" ] || fail "created map"
expect_rc 3 cluster create --node 1=127.0.0.1:${cports[0]} \
	--node 2=127.0.0.1:${cports[1]}
grep -q 'already belongs' "$tmp/err" || fail "create twice"
for k in apple banana mango zebra; do
	d put "$k" "fruit-$k" >/dev/null
done
[ "$(d -o json range a m | json '[x["key"] for x in j]')" = "['apple', 'banana']" ] ||
	fail "range sharding"
[ "$(d -o json shard-of zebra | json 'j["shard"], j["node"]')" = "(1, 2)" ] ||
	fail "range shard-of"
expect_rc 3 range a z
echo "ok: dkv CLI"
