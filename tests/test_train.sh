#!/bin/sh
# test_train.sh - `sei train` and `sei eval` end to end on small runs of the built-in shapes
# set: checkpoints and log written, eval reads everything from the checkpoint, same seed =>
# byte-identical checkpoints, a run killed with SIGKILL and resumed ends byte-identical to an
# uninterrupted one (the checkpoint always loadable), --init/--reset-head, divergence stops
# with a clear message, and bad input fails with one line and writes nothing.
#   sh tests/test_train.sh ./sei          prints "ok NAME" / "FAIL NAME: why" per check
sei=${1:-./sei}
. "$(dirname "$0")/lib.sh"

# a small VGG16-BN: 16 px wide stages, 200 training images, 2 threads
NET="--net vgg16_bn --width-mult 0.0625 --data shapes:200 --batch 16 --threads 2 --quiet"

# 1. a run writes last, best and log.csv; eval needs no network flags
if "$sei" train $NET --epochs 2 --seed 3 --out "$tmp/a" >"$tmp/a.out" 2>"$tmp/a.err" &&
   [ -f "$tmp/a/last.safetensors" ] && [ -f "$tmp/a/best.safetensors" ] &&
   [ "$(wc -l <"$tmp/a/log.csv")" -eq 3 ] && [ "$(grep -c '^epoch' "$tmp/a.out")" -eq 2 ]; then
    ok train_writes_checkpoints
else
    fail train_writes_checkpoints "$(cat "$tmp/a.err" "$tmp/a.out" | head -5)"
fi
if "$sei" eval --weights "$tmp/a/last.safetensors" --json --threads 2 >"$tmp/e.json" 2>"$tmp/e.err" &&
   grep -q '"accuracy":' "$tmp/e.json" && grep -q '"confusion":\[\[' "$tmp/e.json" &&
   grep -q '"images":40,' "$tmp/e.json"; then
    ok eval_json_from_metadata
else
    fail eval_json_from_metadata "$(cat "$tmp/e.err" "$tmp/e.json" | head -3)"
fi
if "$sei" eval --weights "$tmp/a/last.safetensors" --split val --threads 2 >"$tmp/e.txt" 2>&1 &&
   grep -q "accuracy" "$tmp/e.txt" && grep -q "confusion matrix" "$tmp/e.txt"; then
    ok eval_report
else
    fail eval_report "$(head -3 "$tmp/e.txt")"
fi

# 2. same seed, same threads: byte-identical checkpoints
if "$sei" train $NET --epochs 2 --seed 3 --out "$tmp/b" >/dev/null 2>"$tmp/b.err" &&
   cmp -s "$tmp/a/last.safetensors" "$tmp/b/last.safetensors"; then
    ok train_deterministic
else
    fail train_deterministic "checkpoints of two identical runs differ $(head -2 "$tmp/b.err")"
fi

# 3. kill -9 during the run (after the first epoch's checkpoint), resume, compare
"$sei" train $NET --epochs 4 --seed 5 --out "$tmp/full" >/dev/null 2>&1
"$sei" train $NET --epochs 4 --seed 5 --out "$tmp/k" >/dev/null 2>&1 &
kill_after_first_epoch $! "$tmp/k"
if "$sei" eval --weights "$tmp/k/last.safetensors" --threads 2 >/dev/null 2>"$tmp/k.err"; then
    ok checkpoint_loadable_after_kill
else
    fail checkpoint_loadable_after_kill "$(cat "$tmp/k.err")"
fi
if "$sei" train --resume "$tmp/k" --threads 2 --quiet >"$tmp/r.out" 2>"$tmp/r.err" &&
   cmp -s "$tmp/full/last.safetensors" "$tmp/k/last.safetensors" &&
   [ "$(wc -l <"$tmp/k/log.csv")" -eq 5 ]; then
    ok resume_after_kill_identical
else
    fail resume_after_kill_identical "$(head -3 "$tmp/r.err") $(head -2 "$tmp/r.out")"
fi
if "$sei" train --resume "$tmp/k" --lr 0.1 >/dev/null 2>"$tmp/err"; then
    fail resume_rejects_flags "accepted --lr with --resume"
elif [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "drop --lr" "$tmp/err"; then
    ok resume_rejects_flags
else
    fail resume_rejects_flags "$(cat "$tmp/err")"
fi

# 4. --init from a checkpoint with another class count needs --reset-head
if "$sei" train $NET --epochs 1 --class-subset 0,1,2 --init "$tmp/a/last.safetensors" --reset-head \
     --out "$tmp/h" >/dev/null 2>"$tmp/h.err" &&
   "$sei" eval --weights "$tmp/h/last.safetensors" --json --threads 2 | grep -q '"images":12,'; then
    ok init_reset_head
else
    fail init_reset_head "$(cat "$tmp/h.err")"
fi
if "$sei" train $NET --epochs 1 --class-subset 0,1,2 --init "$tmp/a/last.safetensors" \
     --out "$tmp/h2" >/dev/null 2>"$tmp/err"; then
    fail init_class_mismatch "a 10-class head loaded into a 3-class network"
elif grep -q "reset-head" "$tmp/err"; then ok init_class_mismatch
else fail init_class_mismatch "$(cat "$tmp/err")"; fi

# 5. divergence: a clear message, non-zero exit
if "$sei" train $NET --epochs 2 --lr 100 --out "$tmp/nan" >/dev/null 2>"$tmp/err"; then
    fail divergence_stops "a learning rate of 100 trained without complaint"
elif grep -q "diverged" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
    ok divergence_stops
else
    fail divergence_stops "$(cat "$tmp/err")"
fi

# 6. bad input: one line on stderr, exit 2, no checkpoint
bad() {
    name=$1; shift
    "$sei" train "$@" --out "$tmp/bad_$name" >/dev/null 2>"$tmp/err"; rc=$?
    if [ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && ! [ -e "$tmp/bad_$name/last.safetensors" ]; then
        ok "train_rejects_$name"
    else
        fail "train_rejects_$name" "rc=$rc $(cat "$tmp/err")"
    fi
}
bad unknown_spec --net vgg16_bn --data mystery
bad missing_dir --net vgg16_bn --data idx:/nonexistent
bad subset_range --net vgg16_bn --data shapes:100 --class-subset 0,42
bad bad_opt --net vgg16_bn --data shapes:100 --opt lion
bad too_small --net vgg16_bn --data shapes:100 --size 16
bad bad_norm --net vgg16_bn --data shapes:100 --normalize 1,2/0
bad labels_out_of_range --net vgg16_bn --data shapes:100 --classes 5
if "$sei" train --net vgg16_bn >/dev/null 2>"$tmp/err"; then fail train_needs_out "ran without --out"
elif grep -q -- "--out" "$tmp/err"; then ok train_needs_out; else fail train_needs_out "$(cat "$tmp/err")"; fi
if "$sei" eval --weights "$tmp/nothing.safetensors" >/dev/null 2>"$tmp/err"; then fail eval_missing_weights "ok"
elif [ "$(wc -l <"$tmp/err")" -eq 1 ]; then ok eval_missing_weights; else fail eval_missing_weights "$(cat "$tmp/err")"; fi
exit $status
