#!/bin/sh
# test_killsafe.sh - crash-safe training: `sei train` is killed with SIGKILL at random moments
# (KILLS times in all, default 50; every third one as soon as a checkpoint write has begun) and
# resumed each time with --resume. After every kill the newest checkpoint must load, and
# every run, once it finishes, must end with exactly the weights and log of an
# uninterrupted run (the time columns aside).
#   sh tests/test_killsafe.sh ./sei
sei=${1:-./sei}
. "$(dirname "$0")/lib.sh"
# under qemu (make test-aarch64) start-up takes seconds: fewer kills, sleeps scaled
if [ -n "${SEI_EMULATED:-}" ]; then KILLS=${KILLS:-10}; else KILLS=${KILLS:-50}; fi
SCALE=${SEI_TIME_SCALE:-1}
# width 0.125: 8 MB checkpoints (fsync-ed), so that some kills catch a write in progress
T="--net vgg16_bn --width-mult 0.125 --in-ch 1 --data shapes:64 --batch 16 --threads 2 --quiet --epochs 30 --seed 9"
if ! "$sei" train $T --out "$tmp/ref" >"$tmp/ref.out" 2>&1; then
    fail killsafe_setup "$(tail -2 "$tmp/ref.out")"
    exit 1
fi
cut -d, -f1-6 "$tmp/ref/log.csv" >"$tmp/ref.log"
kills=0 runs=0 torn=0 loaded=0 bad=0 seed=$$
rnd() { seed=$(( (seed * 1103515245 + 12345) % 2147483648 )); echo $(( seed % $1 )); }
while [ $kills -lt $KILLS ] && [ $bad -eq 0 ]; do
    runs=$((runs + 1))
    d="$tmp/run$runs"
    done_=0
    while [ $done_ -eq 0 ] && [ $bad -eq 0 ]; do
        rm -f "$d"/*.tmp # left by an earlier kill: count only this one's
        if [ -f "$d/last.safetensors" ]; then
            "$sei" train --resume "$d" --threads 2 --quiet >"$tmp/run.out" 2>&1 &
        else
            "$sei" train $T --out "$d" >"$tmp/run.out" 2>&1 &
        fi
        pid=$!
        # 100 .. 1000 ms: from start-up to the middle of an epoch or a checkpoint write; once
        # KILLS kills are done, the run goes to its end
        ms=$(( 100 + $(rnd 900) ))
        # every third kill waits for a checkpoint write to start (its .tmp file) instead
        if [ $((kills % 3)) -eq 2 ]; then
            i=0
            while [ $i -lt $((600 * SCALE)) ] && ! ls "$d"/*.tmp >/dev/null 2>&1 && kill -0 $pid 2>/dev/null; do sleep 0.005; i=$((i + 1)); done
        elif [ $kills -lt $KILLS ]; then
            sleep "$(awk "BEGIN { print $ms * $SCALE / 1000 }")"
        fi
        if [ $kills -lt $KILLS ] && kill -9 $pid 2>/dev/null; then
            wait $pid 2>/dev/null
            kills=$((kills + 1))
            ls "$d"/*.tmp >/dev/null 2>&1 && torn=$((torn + 1))
            if [ -f "$d/last.safetensors" ]; then
                if "$sei" info --weights "$d/last.safetensors" >/dev/null 2>"$tmp/info.err"; then
                    loaded=$((loaded + 1))
                else
                    fail killsafe_checkpoint_loads "after kill $kills: $(cat "$tmp/info.err")"; bad=1
                fi
            fi
        else
            wait $pid
            rc=$?
            if [ $rc -ne 0 ]; then fail killsafe_resume "run $runs exited $rc: $(tail -2 "$tmp/run.out")"; bad=1; fi
            done_=1
        fi
    done
    [ $bad -eq 0 ] || break
    cut -d, -f1-6 "$d/log.csv" >"$tmp/run.log"
    if ! cmp -s "$tmp/ref/last.safetensors" "$d/last.safetensors" || ! cmp -s "$tmp/ref/best.safetensors" "$d/best.safetensors"; then
        fail killsafe_same_weights "run $runs (killed and resumed) ends with other weights than the uninterrupted run"; bad=1
    elif ! cmp -s "$tmp/ref.log" "$tmp/run.log"; then
        fail killsafe_same_log "run $runs: $(diff "$tmp/ref.log" "$tmp/run.log" | head -3)"; bad=1
    fi
    rm -rf "$d"
done
if [ $bad -eq 0 ]; then
    echo "  $kills kills over $runs runs ($torn during a checkpoint write, $loaded checkpoints loaded after a kill)"
    ok killsafe_kill_resume
fi
exit $status
