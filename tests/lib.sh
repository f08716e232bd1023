# lib.sh - helpers sourced by the tests/test_*.sh scripts (not a test itself).

# every script gets a scratch folder $tmp (removed on exit), a status (1 after any FAIL) and
# ok NAME / fail NAME WHY / one_line FILE (true if FILE holds exactly one line)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
status=0
ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; status=1; }
one_line() { [ "$(wc -l <"$1")" -eq 1 ]; }

# lines FILE: its line count, 0 if it does not exist
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# SEI_TIME_SCALE (default 1; `make test-aarch64` sets 10): how many times longer than on the
# host the commands may take (qemu-user); it stretches the waits that bound a run's time
scale=${SEI_TIME_SCALE:-1}

# kill_after_first_epoch PID DIR: wait (up to 30 s x scale) until the training run PID has
# logged its first epoch and written DIR/last.safetensors, then kill -9 it
kill_after_first_epoch() {
    _i=0
    while [ $_i -lt $((600 * scale)) ] && { [ "$(lines "$2/log.csv")" -lt 2 ] || ! [ -f "$2/last.safetensors" ]; }; do
        sleep 0.05; _i=$((_i + 1))
    done
    kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null
}

# max_abs_diff A B: the largest |a - b| over the float32 payloads of two safetensors files
# that hold one tensor each (as `sei forward --out` writes them)
max_abs_diff() {
    _f() { _n=$(od -An -t u8 -N8 "$1" | tr -d ' '); od -An -v -f -j $((8 + _n)) "$1" | tr -s ' ' '\n' | grep -v '^$'; }
    _f "$1" >"$tmp/_mad_a"; _f "$2" >"$tmp/_mad_b"
    paste "$tmp/_mad_a" "$tmp/_mad_b" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d } END { printf "%g\n", m + 0 }'
}

# start_serve OUT ERR ARGS...: `$sei serve ARGS --listen 127.0.0.1:PORT` in the background,
# stdout to OUT, stderr to ERR, once it prints "serving" (up to 5 s x scale). PORT is below
# Linux's ephemeral range (32768-60999), where an outgoing connection may hold any port;
# one still taken by another process is skipped for the next (5 tries). Sets PORT, ADDR, spid.
start_serve() {
    _out=$1 _err=$2
    shift 2
    for _k in 0 1 2 3 4; do
        PORT=$((20000 + ($$ * 7 + _k * 2311) % 12000))
        ADDR=127.0.0.1:$PORT
        "$sei" serve "$@" --listen $ADDR >"$_out" 2>"$_err" &
        spid=$!
        _i=0
        while [ $_i -lt $((100 * scale)) ] && ! grep -q "^serving" "$_out" && kill -0 $spid 2>/dev/null; do
            sleep 0.05; _i=$((_i + 1))
        done
        grep -q "^serving" "$_out" && return 0
        kill -0 $spid 2>/dev/null && return 1      # running, but not serving in time
        grep -q "in use" "$_err" || return 1      # stopped for another reason
    done
    return 1
}
