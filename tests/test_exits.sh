#!/bin/sh
# test_exits.sh - early exits end to end on small runs of the built-in shapes set: exit
# branches trained on a frozen backbone leave the network's own predictions unchanged,
# `sei exits` prints the sweep, picks a tau for a target, writes CSV and SVG; the exits
# travel with the device part of `sei split` and `sei forward` writes their logits; a run
# with exits resumes byte-identically; bad input fails with one line.
#   sh tests/test_exits.sh ./sei          prints "ok NAME" / "FAIL NAME: why" per check
sei=${1:-./sei}
. "$(dirname "$0")/lib.sh"
X=tests/fixtures/vgg16_bn.ref.safetensors   # 3 grey 32x32 images

NET="--net vgg16_bn --width-mult 0.0625 --in-ch 1 --data shapes:200 --batch 16 --threads 2 --quiet"
if ! "$sei" train $NET --epochs 1 --seed 3 --augment flip --out "$tmp/base" >"$tmp/base.out" 2>&1; then
    fail exits_base_training "$(head -3 "$tmp/base.out")"
    exit 1
fi

# 1. exits on a frozen backbone: the final classifier's accuracy and loss do not move
if "$sei" train $NET --epochs 1 --init "$tmp/base/last.safetensors" --exit-at features.13,features.23 \
       --freeze backbone --augment flip --out "$tmp/x" >"$tmp/x.out" 2>&1 &&
   grep -q "exit features.13 .*exit features.23" "$tmp/x.out" &&
   "$sei" eval --weights "$tmp/base/last.safetensors" --threads 2 --json >"$tmp/e0.json" 2>&1 &&
   "$sei" eval --weights "$tmp/x/last.safetensors" --threads 2 --json >"$tmp/e1.json" 2>&1 &&
   [ "$(grep -o '"accuracy":[0-9.]*,"loss":[0-9.]*' "$tmp/e0.json")" = \
     "$(grep -o '"accuracy":[0-9.]*,"loss":[0-9.]*' "$tmp/e1.json")" ]; then
    ok exits_frozen_backbone
else
    fail exits_frozen_backbone "$(tail -2 "$tmp/x.out") $(head -c 200 "$tmp/e1.json")"
fi

# 2. the sweep, a target, CSV and SVG
W="--weights $tmp/x/last.safetensors --threads 2"
if "$sei" exits $W --csv "$tmp/s.csv" --svg "$tmp/s.svg" >"$tmp/s.out" 2>&1 &&
   grep -q "exit 1 after features.23" "$tmp/s.out" && grep -q "exited acc overall acc" "$tmp/s.out" &&
   [ "$(grep -c '^tau\|^[0-9]' "$tmp/s.csv")" -eq 16 ] && head -c 4 "$tmp/s.svg" | grep -q "<svg"; then
    ok exits_sweep
else
    fail exits_sweep "$(tail -3 "$tmp/s.out")"
fi
# target 0: every image may leave at the first exit; above 100% of the final: none can
if "$sei" exits $W --target-accuracy 0 >"$tmp/t.out" 2>&1 &&
   grep -q "target 0.00%: tau .* lets 100.00% of the images leave early" "$tmp/t.out" &&
   "$sei" exits $W --policy entropy --within 0 >"$tmp/t2.out" 2>&1 && grep -q "^target " "$tmp/t2.out"; then
    ok exits_target
else
    fail exits_target "$(tail -2 "$tmp/t.out") $(tail -1 "$tmp/t2.out")"
fi

# 3. the exits belong to the device part; forward of the head writes their logits
if "$sei" split --weights "$tmp/x/last.safetensors" --at features.23 --out-head "$tmp/h.st" \
       --out-tail "$tmp/t.st" >/dev/null 2>"$tmp/sp.err" &&
   "$sei" info --weights "$tmp/h.st" >"$tmp/hi.out" 2>"$tmp/sp.err" &&
   grep -q "^exits.0 " "$tmp/hi.out" && grep -q "^exits.1 " "$tmp/hi.out" &&
   "$sei" forward --weights "$tmp/h.st" --input $X --out "$tmp/ho.st" 2>"$tmp/sp.err" &&
   grep -q "logits.exits.1" "$tmp/ho.st" &&
   "$sei" info --weights "$tmp/x/last.safetensors" --at features.23 | grep -q "^device (..features.23)"; then
    ok exits_split_device_part
else
    fail exits_split_device_part "$(cat "$tmp/sp.err")"
fi

# 4. joint training with exits, killed after its first epoch and resumed: byte-identical
J="--net vgg16_bn --width-mult 0.0625 --in-ch 1 --data shapes:1000 --batch 16 --threads 2 --quiet --epochs 3 --exit-at features.13 --exit-weight 0.5"
"$sei" train $J --out "$tmp/full" >/dev/null 2>&1
"$sei" train $J --out "$tmp/k" >/dev/null 2>&1 &
kill_after_first_epoch $! "$tmp/k"
if [ "$(lines "$tmp/k/log.csv")" -ge 4 ]; then
    fail exits_resume_identical "the run finished before it was killed"
elif "$sei" train --resume "$tmp/k" --threads 2 --quiet >"$tmp/res.out" 2>&1 &&
   cmp -s "$tmp/full/last.safetensors" "$tmp/k/last.safetensors"; then
    ok exits_resume_identical
else
    fail exits_resume_identical "$(tail -2 "$tmp/res.out")"
fi

# 5. sparsity + split + exits in one checkpoint: a sparse head, then a bottleneck and an exit
#    trained with the head frozen; info, exits and split all see every part of it
if "$sei" train $NET --epochs 1 --density 0.25 --sparse-until features.23 --out "$tmp/sp" >/dev/null 2>&1 &&
   "$sei" retrain --weights "$tmp/sp/last.safetensors" --at features.23 --ratio 2 --wire int8 --freeze head \
       --exit-at features.13,features.23 --epochs 1 --batch 16 --threads 2 --quiet --out "$tmp/all" >"$tmp/all.out" 2>&1 &&
   "$sei" info --weights "$tmp/all/last.safetensors" --at bottleneck.wire >"$tmp/ai.out" 2>&1 &&
   grep -q "^features.3 *channel" "$tmp/ai.out" && grep -q "^exits.1 *exit" "$tmp/ai.out" &&
   grep -q "^bottleneck.encoder.0" "$tmp/ai.out" && grep -q "^device (..bottleneck.wire)" "$tmp/ai.out" &&
   "$sei" exits --weights "$tmp/all/last.safetensors" --threads 2 --taus 0.9 >"$tmp/ae.out" 2>&1 &&
   grep -q "split after bottleneck.wire: .* (int8)" "$tmp/ae.out" && grep -q "if its sparse layers were dense" "$tmp/ae.out" &&
   "$sei" split --weights "$tmp/all/last.safetensors" --at bottleneck.wire --out-head "$tmp/ah.st" \
       --out-tail "$tmp/at.st" >/dev/null 2>&1 &&
   grep -q "exits.1.5.weight" "$tmp/ah.st" && grep -q "features.3.weight.index" "$tmp/ah.st" &&
   ! grep -q "exits.0" "$tmp/at.st" &&
   "$sei" forward --weights "$tmp/ah.st" --input $X --out "$tmp/aho.st" 2>/dev/null &&
   "$sei" forward --weights "$tmp/at.st" --input "$tmp/aho.st" --out "$tmp/ato.st" 2>/dev/null &&
   "$sei" forward --weights "$tmp/all/last.safetensors" --input $X --out "$tmp/aw.st" 2>/dev/null &&
   grep -q "logits.exits.0" "$tmp/aho.st"; then
    ok exits_sparse_split_together
else
    fail exits_sparse_split_together "$(tail -2 "$tmp/all.out") $(tail -2 "$tmp/ae.out")"
fi

# 6. bad input: one line, non-zero exit
n=0 bad=0
B="$tmp/base/last.safetensors"
for args in "exits --weights $B" \
            "exits $W --policy median" \
            "exits $W --target-accuracy 150" \
            "exits $W --target-accuracy 0.5 --within 1" \
            "exits $W --split-at features.6" \
            "exits $W --taus 0.5,x" \
            "train $NET --exit-at features.99 --out $tmp/y" \
            "train $NET --exit-at features.13,features.13 --out $tmp/y" \
            "train $NET --exit-at features.13 --exit-convs 9 --out $tmp/y" \
            "train $NET --init $B --freeze backbone --out $tmp/y" \
            "train $NET --init $tmp/x/last.safetensors --exit-at features.13 --out $tmp/y"; do
    n=$((n + 1))
    if "$sei" $args >/dev/null 2>"$tmp/bad.err"; then
        fail exits_bad_input "case $n succeeded: sei $args"; bad=1
    elif ! one_line "$tmp/bad.err"; then
        fail exits_bad_input "case $n: not one line: $(cat "$tmp/bad.err")"; bad=1
    fi
done
[ $bad -eq 0 ] && ok exits_bad_input
exit $status
