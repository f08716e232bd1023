#!/bin/sh
# test_serve.sh - real split inference over TCP on this machine: `sei serve` holds the tail
# of a split network, `sei device` runs the head on images and gets the same accuracy as
# `sei eval` (fp32), sends fewer bytes with fp16/int8; a device with another split's head is
# refused; bad peers (garbage, a slow sender, a connection closed at once) are dropped with
# a logged reason while the server keeps serving; three devices at once are all answered;
# SIGTERM stops it cleanly; a device whose server goes away retries, then fails in one line,
# and one whose server comes back reconnects and goes on.
#   sh tests/test_serve.sh ./sei          prints "ok NAME" / "FAIL NAME: why" per check
sei=${1:-./sei}
. "$(dirname "$0")/lib.sh"

NET="--net vgg16_bn --width-mult 0.0625 --in-ch 1 --data shapes:300 --batch 16 --threads 2 --quiet"
if ! "$sei" train $NET --epochs 1 --seed 3 --out "$tmp/base" >"$tmp/b.out" 2>&1 ||
   ! "$sei" split --weights "$tmp/base/last.safetensors" --at features.13 --out-head "$tmp/h13.st" \
       --out-tail "$tmp/t13.st" >/dev/null 2>&1 ||
   ! "$sei" split --weights "$tmp/base/last.safetensors" --at features.23 --out-head "$tmp/h23.st" \
       --out-tail "$tmp/t23.st" >/dev/null 2>&1; then
    fail serve_setup "$(tail -2 "$tmp/b.out")"
    exit 1
fi
if ! start_serve "$tmp/serve.out" "$tmp/serve.err" --weights "$tmp/t13.st" --frame-timeout 0.5 --idle-timeout 3 --threads 1; then
    fail serve_setup "sei serve did not start: $(cat "$tmp/serve.err")"
    exit 1
fi

# 1. head + tail over TCP: the accuracy sei eval gets on the same images, nothing lost
D="--connect $ADDR --limit 60 --threads 1"
if "$sei" device --weights "$tmp/h13.st" $D >"$tmp/d1.out" 2>&1 &&
   grep -q "60 frames in .* 60 answered by the server, 0 left at the exit, 0 lost" "$tmp/d1.out" &&
   "$sei" eval --weights "$tmp/base/last.safetensors" --limit 60 --threads 1 >"$tmp/e.out" 2>&1 &&
   [ "$(sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p' "$tmp/d1.out" | head -1)" = \
     "$(sed -n 's/.*accuracy \([0-9.]*\)% .*/\1/p' "$tmp/e.out" | head -1)" ]; then
    ok serve_device_accuracy
else
    fail serve_device_accuracy "$(cat "$tmp/d1.out") | $(head -1 "$tmp/e.out")"
fi
# fp16 and int8 send fewer bytes (header 32 B + 8x8x8 values)
if "$sei" device --weights "$tmp/h13.st" $D --wire int8 --fps 100 >"$tmp/d2.out" 2>&1 &&
   grep -q "(544.0 per frame, int8)" "$tmp/d2.out" &&
   "$sei" device --weights "$tmp/h13.st" $D --wire fp16 >"$tmp/d3.out" 2>&1 && grep -q "(1056.0 per frame, fp16)" "$tmp/d3.out" &&
   grep -q "(2080.0 per frame, fp32)" "$tmp/d1.out"; then
    ok serve_wire_formats
else
    fail serve_wire_formats "$(tail -1 "$tmp/d1.out") $(tail -1 "$tmp/d2.out") $(tail -1 "$tmp/d3.out")"
fi

# 2. another split's head is refused, with one line
if "$sei" device --weights "$tmp/h23.st" $D >/dev/null 2>"$tmp/d4.err"; then
    fail serve_refuses_other_split "a features.23 head was served by a features.13 tail"
elif one_line "$tmp/d4.err" && grep -q "another network's tail" "$tmp/d4.err"; then
    ok serve_refuses_other_split
else
    fail serve_refuses_other_split "$(cat "$tmp/d4.err")"
fi

# 3. bad peers are dropped with a reason, and the server keeps serving
bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; printf 'GARBAGE-GARBAGE-GARBAGE-GARBAGE-GARBAGE-GARBAGE-GARBAGE!' >&3; sleep 0.3" 2>/dev/null
bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; printf 'SEIH' >&3; sleep 1.2" 2>/dev/null
bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT; exec 3>&-" 2>/dev/null
sleep 0.3
if grep -q "dropping .*bad hello" "$tmp/serve.err" && grep -q "dropping .*too slow" "$tmp/serve.err" &&
   grep -q "dropping .*closed before the hello" "$tmp/serve.err" &&
   "$sei" device --weights "$tmp/h13.st" $D >"$tmp/d5.out" 2>&1 && grep -q " 0 lost" "$tmp/d5.out"; then
    ok serve_survives_bad_peers
else
    fail serve_survives_bad_peers "$(cat "$tmp/serve.err") $(tail -2 "$tmp/d5.out")"
fi

# 4. several devices at once: each gets every answer
for k in 1 2 3; do "$sei" device --weights "$tmp/h13.st" $D --fps 200 >"$tmp/par$k.out" 2>&1 & done
sleep 0.2
i=0
while [ $i -lt 100 ] && [ "$(cat "$tmp"/par*.out 2>/dev/null | grep -c '^sent ')" -lt 3 ]; do sleep 0.1; i=$((i + 1)); done
if [ "$(grep -l ' 60 answered by the server, 0 left at the exit, 0 lost' "$tmp"/par*.out | wc -l)" -eq 3 ]; then
    ok serve_many_devices
else
    fail serve_many_devices "$(cat "$tmp"/par*.out)"
fi

# 5. SIGTERM: a clean stop
kill -TERM $spid
wait $spid
rc=$?
if [ $rc -eq 0 ] && grep -q "server stopped" "$tmp/serve.out"; then
    ok serve_clean_shutdown
else
    fail serve_clean_shutdown "exit $rc"
fi

# 6. the server goes away mid-run: the device retries, then says so in one line
"$sei" serve --weights "$tmp/t13.st" --listen $ADDR --threads 1 --quiet >/dev/null 2>&1 &
spid=$!
sleep 0.5
"$sei" device --weights "$tmp/h13.st" --connect $ADDR --limit 200 --fps 50 --reconnect 2 --threads 1 \
    >"$tmp/rc.out" 2>"$tmp/rc.err" &
dpid=$!
sleep 1
kill -TERM $spid; wait $spid 2>/dev/null
wait $dpid
drc=$?
if [ $drc -ne 0 ] && grep -q "reconnecting (2 of 2)" "$tmp/rc.err" && [ "$(grep -vc reconnecting "$tmp/rc.err")" -eq 1 ] &&
   grep -q "is gone" "$tmp/rc.err"; then
    ok device_server_gone
else
    fail device_server_gone "exit $drc: $(cat "$tmp/rc.err")"
fi

# 6b. the server comes back: the device reconnects and goes on; only the frames in flight
#     when the link broke are lost
"$sei" serve --weights "$tmp/t13.st" --listen $ADDR --threads 1 --quiet >/dev/null 2>&1 &
spid=$!
sleep 0.5
"$sei" device --weights "$tmp/h13.st" --connect $ADDR --limit 60 --fps 20 --window 4 --reconnect 20 --threads 1 \
    >"$tmp/rb.out" 2>"$tmp/rb.err" &
dpid=$!
sleep 1
kill -TERM $spid; wait $spid 2>/dev/null
sleep 0.5
"$sei" serve --weights "$tmp/t13.st" --listen $ADDR --threads 1 --quiet >/dev/null 2>&1 &
spid=$!
wait $dpid
drc=$?
kill -TERM $spid; wait $spid 2>/dev/null
ans=$(sed -n 's/.*: \([0-9]*\) answered by the server.*/\1/p' "$tmp/rb.out")
lst=$(sed -n 's/.* \([0-9]*\) lost;.*/\1/p' "$tmp/rb.out")
if [ $drc -eq 0 ] && grep -q "reconnecting (1 of 20)" "$tmp/rb.err" && grep -q "; [1-9][0-9]* reconnects" "$tmp/rb.out" &&
   [ "$((${ans:-0} + ${lst:-999}))" -eq 60 ] && [ "${lst:-999}" -le 6 ] && [ "${ans:-0}" -ge 54 ]; then
    ok device_reconnects
else
    fail device_reconnects "exit $drc, answered ${ans:-?}, lost ${lst:-?}: $(tail -3 "$tmp/rb.out") $(tail -2 "$tmp/rb.err")"
fi

# 7. bad input: one line, non-zero exit
n=0 bad=0
for args in "device --weights $tmp/h13.st --connect $ADDR --limit 5" \
            "device --weights $tmp/t13.st --connect $ADDR" \
            "device --weights $tmp/h13.st --connect nowhere --limit 5" \
            "device --weights $tmp/h13.st --connect $ADDR --exit-tau 0.9" \
            "device --weights $tmp/h13.st --connect $ADDR --wire int4" \
            "serve --weights $tmp/h13.st --listen $ADDR" \
            "serve --weights $tmp/base/last.safetensors --listen $ADDR" \
            "serve --weights $tmp/t13.st --listen 127.0.0.1:notaport"; do
    n=$((n + 1))
    if "$sei" $args >/dev/null 2>"$tmp/bad.err"; then
        fail serve_bad_input "case $n succeeded: sei $args"; bad=1
    elif ! one_line "$tmp/bad.err"; then
        fail serve_bad_input "case $n: not one line: $(cat "$tmp/bad.err")"; bad=1
    fi
done
[ $bad -eq 0 ] && ok serve_bad_input
exit $status
