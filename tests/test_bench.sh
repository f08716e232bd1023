#!/bin/sh
# test_bench.sh - `sei bench` as bench/run.sh calls it: network timing in infer and train mode
# and GEMM timing print one JSON line with the documented keys and sane values; bad
# arguments exit non-zero with one line on stderr. Small networks only (a few seconds).
#   sh tests/test_bench.sh ./sei          prints "ok NAME" / "FAIL NAME: why" per check
sei=${1:-./sei}
. "$(dirname "$0")/lib.sh"

# jnum KEY FILE: the number after "KEY": in a one-line JSON object (empty if absent)
jnum() { sed -n "s/.*\"$1\":\(-\{0,1\}[0-9.eE+-]*\).*/\1/p" "$2"; }
# jstr KEY FILE: the string value of KEY
jstr() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$2"; }
positive() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }

# check_json NAME FILE KEY...: exactly one line, starts with {, every KEY present
check_json() {
    name=$1; f=$2; shift 2
    n=$(wc -l <"$f")
    if [ "$n" -ne 1 ] || ! head -c 1 "$f" | grep -q '{'; then
        fail "$name" "expected one JSON line, got $n lines: $(head -c 200 "$f")"; return 1
    fi
    for k in "$@"; do
        if ! grep -q "\"$k\":" "$f"; then fail "$name" "key '$k' missing: $(cat "$f")"; return 1; fi
    done
    return 0
}

NETKEYS="net size batch mode threads iters images_per_s ms_per_batch gflops peak_rss_mb isa"
for mode in infer train; do
    name="bench_net_$mode"
    if "$sei" bench --net resnet50 --size 32 --batch 2 --mode "$mode" --iters 1 --warmup 0 \
        --json --width-mult 0.25 --threads 2 >"$tmp/out" 2>"$tmp/err"; then
        # shellcheck disable=SC2086
        if check_json "$name" "$tmp/out" $NETKEYS; then
            ips=$(jnum images_per_s "$tmp/out"); gf=$(jnum gflops "$tmp/out")
            rss=$(jnum peak_rss_mb "$tmp/out")
            if [ "$(jstr mode "$tmp/out")" != "$mode" ] || [ "$(jstr net "$tmp/out")" != resnet50 ]; then
                fail "$name" "wrong net/mode: $(cat "$tmp/out")"
            elif [ "$(jnum batch "$tmp/out")" != 2 ] || [ "$(jnum size "$tmp/out")" != 32 ]; then
                fail "$name" "wrong batch/size: $(cat "$tmp/out")"
            elif ! positive "$ips" || ! positive "$gf" || ! positive "$rss"; then
                fail "$name" "images_per_s/gflops/peak_rss_mb not > 0: $(cat "$tmp/out")"
            else ok "$name"; fi
        fi
    else
        fail "$name" "exit $?: $(head -n 2 "$tmp/err")"
    fi
done

# --profile: per-op times inside the same one-line object
if "$sei" bench --net resnet50 --size 32 --batch 2 --mode train --iters 1 --warmup 0 --json \
    --width-mult 0.25 --profile >"$tmp/out" 2>"$tmp/err"; then
    if check_json bench_profile "$tmp/out" images_per_s profile conv2d optim_ms zero_grad_ms; then
        if grep -q '}}$' "$tmp/out"; then ok bench_profile
        else fail bench_profile "object not closed: $(cat "$tmp/out")"; fi
    fi
else
    fail bench_profile "exit $?: $(head -n 2 "$tmp/err")"
fi

# human-readable form: one line
if "$sei" bench --net vgg16 --size 32 --batch 1 --iters 1 --warmup 0 --width-mult 0.0625 \
    --classes 10 >"$tmp/out" 2>"$tmp/err" && [ "$(wc -l <"$tmp/out")" -eq 1 ] &&
    grep -q 'images/s' "$tmp/out"; then
    ok bench_net_text
else
    fail bench_net_text "$(cat "$tmp/out" "$tmp/err" | head -n 3)"
fi

if "$sei" bench --gemm 64,64,64 --json --iters 1 >"$tmp/out" 2>"$tmp/err"; then
    if check_json bench_gemm "$tmp/out" gflops peak_gflops pct_of_peak threads isa; then
        if positive "$(jnum gflops "$tmp/out")" && positive "$(jnum peak_gflops "$tmp/out")"; then
            ok bench_gemm
        else
            fail bench_gemm "gflops/peak_gflops not > 0: $(cat "$tmp/out")"
        fi
    fi
else
    fail bench_gemm "exit $?: $(head -n 2 "$tmp/err")"
fi

# bad arguments: non-zero exit, exactly one line on stderr, nothing on stdout
bad() {
    name=$1; shift
    "$sei" bench "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    if [ "$rc" -eq 0 ]; then fail "$name" "exit 0 for: $*"
    elif [ "$(wc -l <"$tmp/err")" -ne 1 ]; then fail "$name" "stderr not one line: $(cat "$tmp/err")"
    elif [ -s "$tmp/out" ]; then fail "$name" "stdout not empty: $(cat "$tmp/out")"
    else ok "$name"; fi
}
bad bench_bad_net --net nosuchnet --size 32
bad bench_too_small --net vgg16 --size 16 --width-mult 0.0625
bad bench_bad_mode --net resnet50 --size 32 --mode fly --width-mult 0.25
bad bench_bad_gemm --gemm 64,64
bad bench_bad_gemm_num --gemm 64,x,64
bad bench_no_target --size 32
bad bench_bad_iters --net resnet50 --iters 0
bad bench_unknown_flag --net resnet50 --frobnicate
exit $status
