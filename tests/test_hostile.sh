#!/bin/sh
# test_hostile.sh - a hardened `sei serve`: 20 hostile processes (tests/tools/hostile.c) throw
# HOSTILE (default 10000) bad frames at it - garbage, wrong splits, bad headers, lengths and
# shapes, truncated and half-closed connections, NaN tensors, slow senders, idle connections -
# while two well-behaved devices run: both must get every frame answered, with the accuracy
# `sei eval` reports, and the server must stay up and log why it dropped each bad peer.
#   sh tests/test_hostile.sh ./sei       (run by make test, which builds tests/tools)
sei=${1:-./sei}
. "$(dirname "$0")/lib.sh"
if [ -n "${SEI_EMULATED:-}" ]; then HOSTILE=${HOSTILE:-2000}; else HOSTILE=${HOSTILE:-10000}; fi
tool="${SEI_TEST_DIR:-}/tools/hostile"
if [ -z "${SEI_TEST_DIR:-}" ] || [ ! -x "$tool" ]; then
    echo "SKIP serve_hostile: tests/tools/hostile is not built (run through make test)"
    exit 0
fi
NET="--net vgg16_bn --width-mult 0.0625 --in-ch 1 --data shapes:300 --batch 16 --threads 2 --quiet"
if ! "$sei" train $NET --epochs 1 --seed 4 --out "$tmp/base" >"$tmp/b.out" 2>&1 ||
   ! "$sei" split --weights "$tmp/base/last.safetensors" --at features.13 --out-head "$tmp/h.st" \
       --out-tail "$tmp/t.st" >/dev/null 2>&1; then
    fail hostile_setup "$(tail -2 "$tmp/b.out")"
    exit 1
fi
# the split id, from the head's safetensors header (JSON)
id=$(head -c 65536 "$tmp/h.st" | tr -c '[:print:]' ' ' | sed -n 's/.*"split_id": *"\([0-9a-f]*\)".*/\1/p')
if ! start_serve "$tmp/serve.out" "$tmp/serve.err" --weights "$tmp/t.st" --threads 1; then
    fail hostile_setup "sei serve did not start: $(cat "$tmp/serve.err")"
    exit 1
fi
# the cut's shape: 8 x 8 x 8 at width 1/16 after features.13 of a 32 x 32 input
$SEI_RUNNER "$tool" $ADDR "$id" features.13 8 8 8 "$HOSTILE" 20 >"$tmp/hostile.out" 2>&1 &
hpid=$!
D="--weights $tmp/h.st --connect $ADDR --limit 60 --fps 3 --threads 1"  # 20 s: all through the attack
"$sei" device $D >"$tmp/d1.out" 2>&1 &
d1=$!
"$sei" device $D >"$tmp/d2.out" 2>&1 &
d2=$!
wait $d1; r1=$?
wait $d2; r2=$?
wait $hpid; rh=$?
alive=0
kill -0 $spid 2>/dev/null && alive=1
kill -TERM $spid 2>/dev/null; wait $spid 2>/dev/null
"$sei" eval --weights "$tmp/base/last.safetensors" --limit 60 --threads 1 >"$tmp/e.out" 2>&1
want=$(sed -n 's/.*accuracy \([0-9.]*\)% .*/\1/p' "$tmp/e.out" | head -1)
good=1
for d in d1 d2; do
    grep -q "60 frames in .* 60 answered by the server, 0 left at the exit, 0 lost" "$tmp/$d.out" &&
    [ "$(sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p' "$tmp/$d.out" | head -1)" = "$want" ] || good=0
done
drops=$(grep -c "dropped\|drop" "$tmp/serve.err")
if [ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ $good = 1 ] && [ $rh -eq 0 ] && [ $alive = 1 ] && [ "$drops" -ge $((HOSTILE / 10)) ]; then
    echo "  $(cat "$tmp/hostile.out"); server log: $drops dropped peers; devices: $(grep -h '^latency' "$tmp/d1.out" "$tmp/d2.out" | tr '\n' ';')"
    ok serve_hostile_good_devices_unharmed
else
    fail serve_hostile_good_devices_unharmed "devices $r1/$r2 ($(head -1 "$tmp/d1.out") | $(head -1 "$tmp/d2.out")), want $want%, hostile $rh ($(cat "$tmp/hostile.out")), server alive $alive, drops $drops: $(tail -2 "$tmp/serve.err")"
fi
exit $status
