#!/bin/sh
# test_split.sh - split computing end to end on small runs of the built-in shapes set:
# `sei retrain` puts a bottleneck and an int8 wire at a cut of a trained checkpoint, reports
# the bytes crossing the cut, writes checkpoints that `sei eval` and `sei split` rebuild from
# their metadata, runs deterministically, resumes, and head + tail of the retrained network
# compute exactly what the whole one does; bad input fails with one line.
#   sh tests/test_split.sh ./sei          prints "ok NAME" / "FAIL NAME: why" per check
sei=${1:-./sei}
. "$(dirname "$0")/lib.sh"
X=tests/fixtures/vgg16_bn.ref.safetensors   # 3 grey 32x32 images

# a small grey VGG16-BN trained for one epoch on 200 shapes images
NET="--net vgg16_bn --width-mult 0.0625 --in-ch 1 --data shapes:200 --batch 16 --threads 2 --quiet"
if ! "$sei" train $NET --epochs 1 --seed 3 --augment flip --out "$tmp/base" >"$tmp/base.out" 2>&1; then
    fail split_base_training "$(head -3 "$tmp/base.out")"
    exit 1
fi

# 1. retrain with an autoencoder + int8 wire at features.13 ([8,8,8]: ratio 2, stride 2 -> 68 B)
RT="--weights $tmp/base/last.safetensors --at features.13 --ratio 2 --stride 2 --wire int8 --batch 16 --threads 2 --quiet --augment flip"
if "$sei" retrain $RT --epochs 2 --out "$tmp/r" >"$tmp/r.out" 2>&1 &&
   grep -q "68 bytes per image cross the cut (int8) instead of 2048" "$tmp/r.out" &&
   grep -q "test accuracy" "$tmp/r.out" && [ -f "$tmp/r/best.safetensors" ]; then
    ok retrain_reports_bytes
else
    fail retrain_reports_bytes "$(tail -3 "$tmp/r.out")"
fi

# 2. the checkpoint rebuilds the bottleneck from its metadata: eval needs no flags
if "$sei" eval --weights "$tmp/r/last.safetensors" --threads 2 --json >"$tmp/e.json" 2>"$tmp/e.err" &&
   grep -q '"accuracy":' "$tmp/e.json"; then
    ok eval_split_checkpoint
else
    fail eval_split_checkpoint "$(cat "$tmp/e.err")"
fi

# 3. deterministic; killed after its first checkpoint and resumed (frozen head, optimizer
#    state of the trainable tensors only) it ends byte-identical to an uninterrupted run
"$sei" retrain $RT --epochs 2 --out "$tmp/r2" >/dev/null 2>&1
if cmp -s "$tmp/r/last.safetensors" "$tmp/r2/last.safetensors"; then
    ok retrain_deterministic
else
    fail retrain_deterministic "two identical retrain runs wrote different checkpoints"
fi
KR="$RT --epochs 3 --freeze head --data shapes:1000"   # epochs long enough to kill in between
"$sei" retrain $KR --out "$tmp/full" >/dev/null 2>&1
"$sei" retrain $KR --out "$tmp/k" >/dev/null 2>&1 &
kill_after_first_epoch $! "$tmp/k"
killed_at=$(lines "$tmp/k/log.csv")
if [ "$killed_at" -ge 4 ]; then
    fail retrain_resume_after_kill_identical "the run finished before it was killed"
elif "$sei" train --resume "$tmp/k" --threads 2 --quiet >"$tmp/res.out" 2>&1 &&
   cmp -s "$tmp/full/last.safetensors" "$tmp/k/last.safetensors"; then
    ok retrain_resume_after_kill_identical
else
    fail retrain_resume_after_kill_identical "$(tail -2 "$tmp/res.out")"
fi

# 3b. sparse up to the cut where a bottleneck goes, in one training run: the convs before it
# are sparse, the encoder and everything after it dense
if "$sei" train $NET --epochs 1 --density 0.5 --sparse-until features.13 --split-at features.13 --ratio 2 \
       --wire int8 --out "$tmp/sb" >"$tmp/sb.out" 2>&1 &&
   "$sei" info --weights "$tmp/sb/last.safetensors" >"$tmp/sb.info" 2>&1 &&
   grep -q "^features.10 *channel" "$tmp/sb.info" && grep -q "^bottleneck.encoder.0 *conv" "$tmp/sb.info" &&
   grep -q "^features.14 *conv" "$tmp/sb.info"; then
    ok train_sparse_until_bottleneck_cut
else
    fail train_sparse_until_bottleneck_cut "$(tail -2 "$tmp/sb.out") $(grep "features.10\|encoder.0" "$tmp/sb.info" 2>/dev/null)"
fi

# 4. split the retrained network at its wire: head then tail = the whole network, bit for bit
if "$sei" split --weights "$tmp/r/last.safetensors" --at bottleneck.wire --out-head "$tmp/h.st" \
       --out-tail "$tmp/t.st" >/dev/null 2>"$tmp/s.err" &&
   "$sei" forward --weights "$tmp/h.st" --input $X --out "$tmp/ho.st" 2>"$tmp/s.err" &&
   "$sei" forward --weights "$tmp/t.st" --input "$tmp/ho.st" --out "$tmp/to.st" 2>"$tmp/s.err" &&
   "$sei" forward --weights "$tmp/r/last.safetensors" --input $X --out "$tmp/w.st" 2>"$tmp/s.err" &&
   cmp -s "$tmp/to.st" "$tmp/w.st"; then
    ok split_retrained_head_tail
else
    fail split_retrained_head_tail "$(cat "$tmp/s.err")"
fi

# 5. frozen backbone: only the bottleneck trains
if "$sei" retrain $RT --epochs 1 --freeze backbone --out "$tmp/fb" >"$tmp/fb.out" 2>&1 &&
   grep -q "frozen: backbone" "$tmp/fb.out"; then
    ok retrain_freeze_backbone
else
    fail retrain_freeze_backbone "$(tail -2 "$tmp/fb.out")"
fi

# 6. sweep-splits over the five pool cuts: a CSV row per cut, the correlation, an SVG
if "$sei" sweep-splits --weights "$tmp/base/last.safetensors" --cuts pools --epochs 1 --batch 16 \
       --importance-images 40 --threads 2 --quiet --out "$tmp/sw" >"$tmp/sw.out" 2>&1 &&
   [ "$(grep -c '^features\.' "$tmp/sw/sweep.csv")" -eq 5 ] &&
   grep -q "Spearman rank correlation of importance and retrained accuracy" "$tmp/sw.out" &&
   head -c 4 "$tmp/sw/sweep.svg" | grep -q "<svg" && [ -f "$tmp/sw/features.43/best.safetensors" ]; then
    ok sweep_splits
else
    fail sweep_splits "$(tail -3 "$tmp/sw.out")"
fi
if "$sei" sweep-splits --weights "$tmp/base/last.safetensors" --cuts features.7 --threads 2 \
       --out "$tmp/sw2" >/dev/null 2>"$tmp/sw2.err"; then
    fail sweep_rejects_bad_cut "accepted --cuts features.7"
elif one_line "$tmp/sw2.err" && grep -q "not a cut point" "$tmp/sw2.err"; then
    ok sweep_rejects_bad_cut
else
    fail sweep_rejects_bad_cut "$(cat "$tmp/sw2.err")"
fi

# 7. bad input: one line, non-zero exit, nothing written
n=0 bad=0
for args in "retrain --at features.13 --out $tmp/x" \
            "retrain --weights $tmp/base/last.safetensors --out $tmp/x" \
            "retrain --weights $tmp/base/last.safetensors --at features.99 --out $tmp/x" \
            "retrain --weights $tmp/base/last.safetensors --at features.13 --wire int4 --out $tmp/x" \
            "retrain --weights $tmp/base/last.safetensors --at features.13 --bottleneck vae --out $tmp/x" \
            "retrain --weights $tmp/base/last.safetensors --at classifier.1 --stride 2 --out $tmp/x" \
            "retrain --weights $tmp/base/last.safetensors --at features.13 --freeze tail --out $tmp/x" \
            "train $NET --freeze head --out $tmp/x" \
            "retrain --weights $tmp/nope.safetensors --at features.13 --out $tmp/x"; do
    n=$((n + 1))
    if "$sei" $args >/dev/null 2>"$tmp/bad.err"; then
        fail retrain_bad_input "case $n succeeded: sei $args"; bad=1
    elif ! one_line "$tmp/bad.err"; then
        fail retrain_bad_input "case $n: not one line: $(cat "$tmp/bad.err")"; bad=1
    fi
done
if [ -e "$tmp/x/last.safetensors" ]; then fail retrain_bad_input "a failed run wrote a checkpoint"; bad=1; fi
[ $bad -eq 0 ] && ok retrain_bad_input
exit $status
