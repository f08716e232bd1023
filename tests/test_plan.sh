#!/bin/sh
# test_plan.sh - `sei sim`, `sei plan` and `sei demo` end to end on tiny networks: the
# simulator's table, CSV and SVG; the planner's recommendation follows the link (a slow
# link keeps everything on the device, a fast one sends it to the server, a tiny device
# cuts early), says which bound fails when none can be met, writes plan.csv and a
# self-contained report.html (screenshotted with headless Chromium when it is installed);
# a short `sei demo` runs every step; bad input fails with one line.
#   sh tests/test_plan.sh ./sei          prints "ok NAME" / "FAIL NAME: why" / "SKIP NAME: why"
sei=${1:-./sei}
. "$(dirname "$0")/lib.sh"

# 1. sei sim on given part sizes: a row per fps value, CSV and SVG
if "$sei" sim --part-sizes 3,15,132 --device rpi4 --link lte --fps 1,10 --duration 20 --csv "$tmp/s.csv" \
       --svg "$tmp/s.svg" >"$tmp/s.out" 2>&1 &&
   [ "$(grep -c '^ *[0-9.]* *[0-9]* *[0-9.]*% ' "$tmp/s.out")" -eq 2 ] && [ "$(wc -l <"$tmp/s.csv")" -eq 3 ] &&
   head -c 4 "$tmp/s.svg" | grep -q "<svg" && "$sei" sim --list-presets | grep -q "^  nbiot"; then
    ok sim_table_csv_svg
else
    fail sim_table_csv_svg "$(tail -3 "$tmp/s.out")"
fi

# a tiny base network, a retrained split and an exit variant
NET="--net vgg16_bn --width-mult 0.0625 --in-ch 1 --data shapes:300 --batch 16 --threads 2 --quiet"
if ! "$sei" train $NET --epochs 1 --seed 3 --augment flip --out "$tmp/base" >"$tmp/b.out" 2>&1 ||
   ! "$sei" retrain --weights "$tmp/base/last.safetensors" --at features.13 --ratio 2 --wire int8 --epochs 1 \
       --batch 16 --threads 2 --quiet --out "$tmp/split13" >"$tmp/r.out" 2>&1 ||
   ! "$sei" train $NET --epochs 1 --init "$tmp/base/last.safetensors" --exit-at features.13 --freeze backbone \
       --out "$tmp/exits" >"$tmp/x.out" 2>&1; then
    fail plan_networks "$(tail -2 "$tmp/b.out" "$tmp/r.out" "$tmp/x.out")"
    exit 1
fi
V="$tmp/base/last.safetensors,$tmp/split13/last.safetensors,$tmp/exits/last.safetensors"

# per-layer times measured here replace the presets' rates; a profile of another network is refused
if "$sei" profile --weights "$tmp/base/last.safetensors" --iters 3 --threads 2 --out "$tmp/prof.csv" >"$tmp/pr.out" 2>&1 &&
   [ "$(wc -l <"$tmp/prof.csv")" -gt 40 ] &&
   "$sei" sim --weights "$tmp/base/last.safetensors" --at features.13 --device-profile "$tmp/prof.csv" \
       --server-profile "$tmp/prof.csv" --fps 5 --duration 5 >"$tmp/ps.out" 2>&1 &&
   grep -q "cut at features.13" "$tmp/ps.out" &&
   ! "$sei" sim --weights "$tmp/split13/last.safetensors" --at features.6 --device-profile "$tmp/prof.csv" >/dev/null 2>&1; then
    ok profile_into_sim
else
    fail profile_into_sim "$(tail -2 "$tmp/pr.out" "$tmp/ps.out")"
fi
P="--weights $V --eval-images 100 --threads 2 --duration 10 --fps 2"

# 2. the recommendation follows the link
if "$sei" plan $P --device rpi4 --link lora --out "$tmp/p1" >"$tmp/p1.out" 2>&1 &&
   grep -q "^recommendation: .*all on device" "$tmp/p1.out" &&
   "$sei" plan $P --device mcu-m7 --link ethernet --out "$tmp/p2" >"$tmp/p2.out" 2>&1 &&
   grep -q "^recommendation: .*all on server" "$tmp/p2.out" &&
   "$sei" plan $P --device mcu-m7 --link ble --max-device-mem 0.05 --out "$tmp/p3" >"$tmp/p3.out" 2>&1 &&
   grep -q "^recommendation: [a-z0-9]* \(features\.[0-9]*\|bottleneck.wire\) " "$tmp/p3.out"; then
    ok plan_follows_link
else
    fail plan_follows_link "$(grep recommendation "$tmp/p1.out" "$tmp/p2.out" "$tmp/p3.out")"
fi

# 3. nothing feasible: the first bound that fails is named
if "$sei" plan $P --device rpi4 --link wifi-n --min-accuracy 1 --out "$tmp/p4" >"$tmp/p4.out" 2>&1 &&
   grep -q "^recommendation: no configuration meets every bound: accuracy fails first" "$tmp/p4.out" &&
   "$sei" plan $P --device rpi4 --link lora --max-latency-ms 0.001 --out "$tmp/p5" >"$tmp/p5.out" 2>&1 &&
   grep -q "latency fails first" "$tmp/p5.out"; then
    ok plan_infeasible_says_why
else
    fail plan_infeasible_says_why "$(grep recommendation "$tmp/p4.out" "$tmp/p5.out")"
fi

# 4. plan.csv, a measured and a predicted-free table, a self-contained report
if [ "$(head -1 "$tmp/p1/plan.csv" | cut -d, -f1)" = configuration ] && [ "$(wc -l <"$tmp/p1/plan.csv")" -gt 10 ] &&
   grep -q ",measured," "$tmp/p1/plan.csv" && grep -q "exit tau" "$tmp/p1/plan.csv" &&
   grep -q "<svg" "$tmp/p1/report.html" && grep -q "Recommendation" "$tmp/p1/report.html" &&
   ! grep -q "src=\|href=\|<script" "$tmp/p1/report.html"; then
    ok plan_files
else
    fail plan_files "$(head -2 "$tmp/p1/plan.csv")"
fi

# 5. the report renders (headless Chromium, when installed)
chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chrome" ]; then
    echo "SKIP plan_report_renders: chromium is not installed (apt-get install chromium)"
elif timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --window-size=1100,2000 \
         --screenshot="$tmp/report.png" "file://$tmp/p1/report.html" >"$tmp/chrome.out" 2>&1 &&
     [ -f "$tmp/report.png" ] && [ "$(wc -c <"$tmp/report.png")" -gt 30000 ]; then
    ok plan_report_renders
else
    fail plan_report_renders "$(tail -2 "$tmp/chrome.out")"
fi

# 6. a short demo runs every step and ends with the summary
if "$sei" demo --images 600 --epochs 1 --threads 2 --out "$tmp/demo" >"$tmp/demo.out" 2>&1 &&
   grep -q "^== summary" "$tmp/demo.out" && [ "$(grep -c '^  [a-z0-9-]* *over ' "$tmp/demo.out")" -eq 4 ] &&
   [ -f "$tmp/demo/report.html" ]; then
    ok demo_short
else
    fail demo_short "$(tail -3 "$tmp/demo.out")"
fi

# 7. bad input: one line, non-zero exit
n=0 bad=0
for args in "plan --weights $V" \
            "plan $P --objective speed --out $tmp/y" \
            "plan $P --percentile 90 --out $tmp/y" \
            "plan $P --link marsnet --out $tmp/y" \
            "plan --weights $tmp/nope.safetensors --out $tmp/y" \
            "sim --part-sizes 1,2" \
            "sim --part-sizes 1,2,3 --fps 0" \
            "sim --part-sizes 1,2,3 --transport quic" \
            "sim --part-sizes 1,2,3 --presets $tmp/nope.txt" \
            "sim --weights $tmp/base/last.safetensors --at features.99"; do
    n=$((n + 1))
    if "$sei" $args >/dev/null 2>"$tmp/bad.err"; then
        fail plan_bad_input "case $n succeeded: sei $args"; bad=1
    elif ! one_line "$tmp/bad.err"; then
        fail plan_bad_input "case $n: not one line: $(cat "$tmp/bad.err")"; bad=1
    fi
done
[ $bad -eq 0 ] && ok plan_bad_input
exit $status
