#!/bin/sh
# run.sh - sei's benchmark suite (`make bench` runs `sh bench/run.sh BUILD/bench ./sei`).
#
# Prints a readable table and writes bench/results.json (one JSON object, written atomically):
#   machine  measured FP32 FMA peak on 1 and T threads (`sei bench --gemm ... --json`, best of
#            two); every later "% of peak" divides by this one T-thread figure (--peak);
#   gemm     sei_gemm GFLOP/s and % of peak: square 256..2048 and shapes the networks produce;
#   conv     per distinct conv shape of VGG16 / ResNet-50, forward and backward GFLOP/s
#            (BUILD/bench/bench_conv) at 64x64 batch 16 (BENCH_FULL=1: also 224x224 batch 4);
#   sparse   the sparse conv layers of a width-0.25 VGG16-BN head (density 1/4) vs dense
#            (BUILD/bench/bench_sparse), inference and training, same run;
#   nets     images/s of vgg16 and resnet50, infer and train, at 64x64 batch 16 and 224x224
#            batch 4: sei and PyTorch (bench/pytorch_bench.py, a fresh process per run) run
#            alternately, ROUNDS times each; the medians, their ratio (sei/PyTorch, >1: sei
#            faster) and peak RSS of each (max over rounds) with its ratio (sei/PyTorch, <1:
#            sei smaller). Without torch/torchvision the PyTorch columns read "SKIP".
#
# Time on a 2-core machine: ~1 minute with BENCH_QUICK=1, ~7-8 minutes for the full run.
# Environment: BENCH_THREADS (default 2), BENCH_QUICK=1 (a ~1-minute subset: fewer GEMM
# shapes, 64x64 networks only, 1 round), BENCH_FULL=1 (adds 224x224 batch-4 conv layers),
# BENCH_ROUNDS (default 3; 1 with QUICK), BENCH_PYTHON (default /usr/bin/python3),
# BENCH_OUT (default bench/results.json), BENCH_SECTIONS (default "gemm conv sparse nets": which
# sections to run), BENCH_NETS (replaces the network list: "net size batch mode iters warmup"
# entries separated by ';'). Needs only sh + awk; python only for the PyTorch peer.
set -u
bdir=${1:?usage: sh bench/run.sh BUILD/bench ./sei}
sei=${2:-./sei}
T=${BENCH_THREADS:-2}
QUICK=${BENCH_QUICK:-0}
FULL=${BENCH_FULL:-0}
PY=${BENCH_PYTHON:-/usr/bin/python3}
OUT=${BENCH_OUT:-bench/results.json}
SECTIONS=${BENCH_SECTIONS:-gemm conv sparse nets}
has() { case " $SECTIONS " in *" $1 "*) return 0 ;; esac; return 1; }
if [ "$QUICK" = 1 ]; then ROUNDS=${BENCH_ROUNDS:-1}; else ROUNDS=${BENCH_ROUNDS:-3}; fi
here=$(dirname "$0")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT INT TERM
start=$(date +%s)

# awk helpers shared by every table: jget(line, key) reads a number or string from a one-line
# JSON object; fmt(v, f) prints v with format f, or "n/a" when empty.
AWKLIB='
function jget(s, k,   v) {
    if (!match(s, "\"" k "\":")) return ""
    v = substr(s, RSTART + RLENGTH)
    if (substr(v, 1, 1) == "\"") { v = substr(v, 2); return substr(v, 1, index(v, "\"") - 1) }
    if (!match(v, /^-?[0-9.eE+-]+/)) return ""
    return substr(v, 1, RLENGTH)
}
function fmt(v, f) { return v == "" ? "n/a" : sprintf(f, v) }
# median of the space-separated numbers in s ("" if none)
function median(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    if (n == 0) return ""
    for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function maxof(s,   a, n, i, m) {
    n = split(s, a, " "); if (n == 0) return ""
    m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 > m) m = a[i] + 0
    return m
}
'

# -------------------------------------------------------------------- machine
# The FMA peak is measured here once per thread count, best of two (each already best of 3),
# and passed to every later measurement so that all "% of peak" share one denominator.
for t in 1 "$T" 1 "$T"; do
    if ! "$sei" bench --gemm 64,64,64 --threads "$t" --iters 1 --json </dev/null >>"$tmp/peak$t.jsonl" 2>"$tmp/err"; then
        echo "bench: $sei bench failed: $(cat "$tmp/err")" >&2; exit 1
    fi
done
cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
[ -n "$cpu" ] || cpu=$(uname -m)
cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 0)
peak1=$(awk "$AWKLIB"'{ print jget($0, "peak_gflops") }' "$tmp/peak1.jsonl" | sort -g | tail -n 1)
peakT=$(awk "$AWKLIB"'{ print jget($0, "peak_gflops") }' "$tmp/peak$T.jsonl" | sort -g | tail -n 1)
isa=$(awk "$AWKLIB"'NR == 1 { print jget($0, "isa") }' "$tmp/peak1.jsonl")
if "$PY" -c "import torch, torchvision" >/dev/null 2>&1; then
    TORCH=1
    torchver=$("$PY" -c "import torch; print(torch.__version__)" 2>/dev/null)
    torchcfg=$("$PY" -c "import re, torch; m = re.search(r'BLAS_INFO=([\w.-]+)', torch.__config__.show()); \
print('BLAS_INFO=%s, mkldnn %s' % (m.group(1) if m else '?', 'on' if torch.backends.mkldnn.is_available() else 'off'))" 2>/dev/null)
else
    TORCH=0; torchver=""
fi
mode_s="full"; [ "$QUICK" = 1 ] && mode_s="quick"; [ "$FULL" = 1 ] && mode_s="$mode_s+224conv"
echo "== machine =="
echo "cpu: $cpu ($cores cores); sei GEMM kernel: $isa; benchmark threads: $T; run: $mode_s, $ROUNDS round(s)"
echo "FP32 FMA peak: 1 thread $peak1 GFLOP/s, $T threads $peakT GFLOP/s"
if [ "$TORCH" = 1 ]; then echo "PyTorch: $torchver ($torchcfg; $PY)"; else echo "PyTorch: not available (SKIP)"; fi

# -------------------------------------------------------------------- GEMM
# name M N K trans_a trans_b  (conv GEMMs are per image at 224x224 unless marked b4 = the
# batch-4 chunk conv2d uses for small planes; linear shapes at batch 4)
cat >"$tmp/gemm.list" <<'EOF'
square 256 256 256 0 0
square 512 512 512 0 0
square 1024 1024 1024 0 0
square 1536 1536 1536 0 0
square 2048 2048 2048 0 0
vgg_conv1.2_fwd 64 50176 576 0 0
vgg_conv3_fwd 256 3136 2304 0 0
vgg_conv5_fwd_b4 512 784 4608 0 0
resnet_1x1_56x64_fwd 64 3136 64 0 0
resnet_1x1_l3_fwd_b4 256 784 1024 0 0
conv_bwd_data_56x64 576 3136 64 1 0
conv_bwd_weight_56x64 64 576 3136 0 1
vgg_fc6_fwd_b4 4 4096 25088 0 1
linear_bwd_weight_b16 4096 4096 16 1 0
EOF
if [ "$QUICK" = 1 ]; then
    grep -E '^(square (256|512|1024) |vgg_conv3_fwd |resnet_1x1_56x64_fwd |conv_bwd_data)' \
        "$tmp/gemm.list" >"$tmp/g" && mv "$tmp/g" "$tmp/gemm.list"
fi
has gemm || : >"$tmp/gemm.list"
t0=$(date +%s)
: >"$tmp/gemm.jsonl"
while read -r name m n k ta tb; do
    flags=""; [ "$ta" = 1 ] && flags="$flags --trans-a"; [ "$tb" = 1 ] && flags="$flags --trans-b"
    # shellcheck disable=SC2086
    if "$sei" bench --gemm "$m,$n,$k" $flags --threads "$T" --peak "$peakT" --json </dev/null >"$tmp/g.json" 2>"$tmp/err"; then
        sed "s/^{/{\"what\":\"$name\",/" "$tmp/g.json" >>"$tmp/gemm.jsonl"
    else
        echo "bench: gemm $name failed: $(cat "$tmp/err")" >&2
    fi
done <"$tmp/gemm.list"
secs_gemm=$(( $(date +%s) - t0 ))
echo
echo "== GEMM: sei_gemm, $T threads, median of 5 runs; %peak of $peakT GFLOP/s =="
awk "$AWKLIB"'BEGIN { printf "%-24s %6s %6s %6s %2s %2s %9s %6s\n", "shape", "M", "N", "K", "tA", "tB", "GFLOP/s", "%peak" }
{ printf "%-24s %6d %6d %6d %2d %2d %9.1f %5.1f%%\n", jget($0, "what"), jget($0, "M"), jget($0, "N"),
         jget($0, "K"), jget($0, "trans_a"), jget($0, "trans_b"), jget($0, "gflops"), jget($0, "pct_of_peak") }' \
    "$tmp/gemm.jsonl"

# -------------------------------------------------------------------- conv layers
: >"$tmp/conv.jsonl"
convcfg="64 16"; [ "$FULL" = 1 ] && convcfg="64 16 224 4"
has conv || convcfg=""
convpeak=""
cargs="--iters 3 --min-ms 30"; [ "$QUICK" = 1 ] && cargs="--iters 1 --min-ms 10"
t0=$(date +%s)
# shellcheck disable=SC2086 # split into size/batch pairs on purpose
set -- $convcfg
while [ $# -ge 2 ]; do
    # shellcheck disable=SC2086
    if "$bdir/bench_conv" --size "$1" --batch "$2" --threads "$T" --peak "$peakT" $cargs >"$tmp/c.jsonl" 2>"$tmp/err"; then
        cp=$(awk "$AWKLIB"'NR == 1 { print jget($0, "peak_gflops") }' "$tmp/c.jsonl")
        [ -n "$convpeak" ] || convpeak=$cp
        grep '"net"' "$tmp/c.jsonl" | sed "s/^{/{\"peak_gflops\":${cp:-null},/" >>"$tmp/conv.jsonl"
    else
        echo "bench: bench_conv --size $1 --batch $2 failed: $(cat "$tmp/err")" >&2
    fi
    shift 2
done
secs_conv=$(( $(date +%s) - t0 ))
echo
echo "== conv layers: conv2d_forward / conv2d_backward (din + dw), $T threads; %peak of ${convpeak:-$peakT} GFLOP/s =="
awk "$AWKLIB"'BEGIN { printf "%-9s %4s %-22s %2s %-16s %-5s %9s %6s %9s %6s\n", "net", "size", "first layer", "n",
                      "N,C,H,W", "OCkS", "fwd GF/s", "%peak", "bwd GF/s", "%peak" }
jget($0, "total") == "" {
    printf "%-9s %4d %-22s %2d %-16s %-5s %9.1f %5.1f%% %9.1f %5.1f%%\n", jget($0, "net"), jget($0, "size"),
           jget($0, "layer"), jget($0, "count"),
           jget($0, "N") "," jget($0, "C") "," jget($0, "H") "," jget($0, "W"),
           jget($0, "OC") "k" jget($0, "k") "s" jget($0, "stride"),
           jget($0, "fwd_gflops"), jget($0, "fwd_pct"), jget($0, "bwd_gflops"), jget($0, "bwd_pct") }
jget($0, "total") != "" {
    printf "%-9s %4d %-22s %2s %-16s %-5s %9.1f %6s %9.1f %6s   (all convs: fwd %.0f ms, bwd %.0f ms)\n",
           jget($0, "net"), jget($0, "size"), "ALL (count-weighted)", "", "", "", jget($0, "fwd_gflops"), "",
           jget($0, "bwd_gflops"), "", jget($0, "fwd_ms"), jget($0, "bwd_ms") }' "$tmp/conv.jsonl"

# -------------------------------------------------------------------- sparse layers
# the device head of a width-0.25 VGG16-BN at 32x32 (Fashion-MNIST), its convs at density
# 1/4 (channel pattern), against their dense version in the same run (BUILD/bench/bench_sparse)
: >"$tmp/sparse.jsonl"
t0=$(date +%s)
if has sparse; then
    sargs="--iters 5 --min-ms 50"; [ "$QUICK" = 1 ] && sargs="--iters 1 --min-ms 10 --batch 32"
    # shellcheck disable=SC2086
    if "$bdir/bench_sparse" --threads "$T" $sargs >"$tmp/sparse.jsonl" 2>"$tmp/err"; then
        echo
        echo "== predefined-sparse convs (density 1/4, channel pattern) vs dense, vgg16_bn x0.25 head to features.23, 32x32 =="
        awk "$AWKLIB"'BEGIN { printf "%-12s %-12s %9s %9s %9s %8s %10s %10s %8s\n", "layer", "C->OC HxW", "dense ms",
                              "sparse ms", "grouped", "speedup", "train dns", "train spr", "speedup" }
        jget($0, "total") == "" {
            printf "%-12s %-12s %9.2f %9.2f %9.2f %7.2fx %10.2f %10.2f %7.2fx\n", jget($0, "layer"),
                   jget($0, "C") "->" jget($0, "OC") " " jget($0, "H") "x" jget($0, "W"), jget($0, "fwd_dense_ms"),
                   jget($0, "fwd_direct_ms"), jget($0, "fwd_grouped_ms"), jget($0, "fwd_dense_ms") / jget($0, "fwd_direct_ms"),
                   jget($0, "train_dense_ms"), jget($0, "train_direct_ms"), jget($0, "train_dense_ms") / jget($0, "train_direct_ms") }
        jget($0, "total") != "" {
            printf "%-12s %-12s %9.2f %9.2f %9.2f %7.2fx %10.2f %10.2f %7.2fx   (batch %d; speedups: what the tape runs)\n",
                   "ALL", "", jget($0, "fwd_dense_ms"), jget($0, "fwd_direct_ms"), jget($0, "fwd_grouped_ms"),
                   jget($0, "fwd_speedup"), jget($0, "train_dense_ms"), jget($0, "train_direct_ms"),
                   jget($0, "train_speedup"), jget($0, "batch") }' "$tmp/sparse.jsonl"
    else
        echo "bench: bench_sparse failed: $(cat "$tmp/err")" >&2
        : >"$tmp/sparse.jsonl"
    fi
fi
secs_sparse=$(( $(date +%s) - t0 ))

# -------------------------------------------------------------------- networks
# net size batch mode iters warmup
if [ "$QUICK" = 1 ]; then
    cat >"$tmp/nets.list" <<'EOF'
vgg16 64 16 infer 2 1
vgg16 64 16 train 2 1
resnet50 64 16 infer 2 1
resnet50 64 16 train 2 1
EOF
else
    cat >"$tmp/nets.list" <<'EOF'
vgg16 64 16 infer 3 1
vgg16 64 16 train 3 1
resnet50 64 16 infer 3 1
resnet50 64 16 train 3 1
vgg16 224 4 infer 3 1
vgg16 224 4 train 3 1
resnet50 224 4 infer 3 1
resnet50 224 4 train 3 1
EOF
fi
[ -n "${BENCH_NETS:-}" ] && printf '%s\n' "$BENCH_NETS" | tr ';' '\n' | sed '/^ *$/d' >"$tmp/nets.list"
has nets || : >"$tmp/nets.list"
: >"$tmp/nets.jsonl"
echo
t0=$(date +%s)
while read -r net size batch mode iters warmup; do
    r=1
    while [ "$r" -le "$ROUNDS" ]; do
        echo "  ($net ${size}x$size batch $batch $mode: round $r of $ROUNDS)" >&2
        if "$sei" bench --net "$net" --size "$size" --batch "$batch" --mode "$mode" --threads "$T" \
            --iters "$iters" --warmup "$warmup" --json </dev/null >"$tmp/n.json" 2>"$tmp/err"; then
            sed "s/^{/{\"round\":$r,/" "$tmp/n.json" >>"$tmp/nets.jsonl"
        else
            echo "bench: sei $net $size $batch $mode failed: $(cat "$tmp/err")" >&2
        fi
        if [ "$TORCH" = 1 ]; then
            if "$PY" "$here/pytorch_bench.py" --net "$net" --size "$size" --batch "$batch" --mode "$mode" \
                --threads "$T" --iters "$iters" --warmup "$warmup" </dev/null >"$tmp/n.json" 2>"$tmp/err"; then
                sed "s/^{/{\"round\":$r,/" "$tmp/n.json" >>"$tmp/nets.jsonl"
            else
                echo "bench: pytorch $net $size $batch $mode failed: $(tail -n 1 "$tmp/err")" >&2
            fi
        fi
        r=$((r + 1))
    done
done <"$tmp/nets.list"

secs_nets=$(( $(date +%s) - t0 ))

# one summary row per workload (also the "nets" array of results.json)
awk "$AWKLIB"'
FILENAME ~ /nets\.list$/ { key = $1 " " $2 " " $3 " " $4; order[++nw] = key; next }
{
    key = jget($0, "net") " " jget($0, "size") " " jget($0, "batch") " " jget($0, "mode")
    e = jget($0, "engine")
    ips[key, e] = ips[key, e] " " jget($0, "images_per_s")
    ms[key, e] = ms[key, e] " " jget($0, "ms_per_batch")
    rss[key, e] = rss[key, e] " " jget($0, "peak_rss_mb")
    if (e == "sei") { gf[key] = gf[key] " " jget($0, "gflops"); macs[key] = jget($0, "macs_per_image") }
}
END {
    for (i = 1; i <= nw; i++) {
        k = order[i]; split(k, f, " ")
        si = median(ips[k, "sei"]); ti = median(ips[k, "pytorch"])
        sr = maxof(rss[k, "sei"]); tr = maxof(rss[k, "pytorch"])
        g = median(gf[k])
        printf "{\"net\":\"%s\",\"size\":%d,\"batch\":%d,\"mode\":\"%s\",\"rounds\":%d", f[1], f[2], f[3], f[4], rounds
        printf ",\"macs_per_image\":%s", macs[k] == "" ? "null" : macs[k]
        printf ",\"sei_images_per_s\":%s", si == "" ? "null" : sprintf("%.4g", si)
        printf ",\"sei_ms_per_batch\":%s", si == "" ? "null" : sprintf("%.6g", median(ms[k, "sei"]))
        printf ",\"sei_gflops\":%s", g == "" ? "null" : sprintf("%.4g", g)
        printf ",\"sei_pct_of_peak\":%s", g == "" || peak <= 0 ? "null" : sprintf("%.3g", 100 * g / peak)
        printf ",\"sei_peak_rss_mb\":%s", sr == "" ? "null" : sprintf("%.1f", sr)
        printf ",\"torch_images_per_s\":%s", ti == "" ? "null" : sprintf("%.4g", ti)
        printf ",\"torch_ms_per_batch\":%s", ti == "" ? "null" : sprintf("%.6g", median(ms[k, "pytorch"]))
        printf ",\"torch_peak_rss_mb\":%s", tr == "" ? "null" : sprintf("%.1f", tr)
        printf ",\"speed_ratio\":%s", si == "" || ti == "" ? "null" : sprintf("%.3g", si / ti)
        printf ",\"rss_ratio\":%s", sr == "" || tr == "" ? "null" : sprintf("%.3g", sr / tr)
        printf ",\"sei_runs_images_per_s\":[%s]", csv(ips[k, "sei"])
        printf ",\"torch_runs_images_per_s\":[%s]}\n", csv(ips[k, "pytorch"])
    }
}
function csv(s,   a, n, i, o) { n = split(s, a, " "); o = ""; for (i = 1; i <= n; i++) o = o (i > 1 ? "," : "") a[i]; return o }
' rounds="$ROUNDS" peak="${peakT:-0}" "$tmp/nets.list" "$tmp/nets.jsonl" >"$tmp/rows.jsonl"

echo "== networks: images/s, $T threads, median of $ROUNDS round(s) (sei and PyTorch alternating) =="
awk "$AWKLIB"'BEGIN { printf "%-9s %7s %5s %-5s %9s %8s %6s %10s %9s %8s %8s %7s\n", "net", "size", "batch", "mode",
                      "sei img/s", "GFLOP/s", "%peak", "torch img/s", "sei/torch", "sei MB", "torch MB", "MB ratio" }
{
    ti = jget($0, "torch_images_per_s"); t = (torch == 1)
    printf "%-9s %7s %5d %-5s %9s %8s %5s%% %10s %9s %8s %8s %7s\n", jget($0, "net"),
           jget($0, "size") "x" jget($0, "size"), jget($0, "batch"), jget($0, "mode"),
           fmt(jget($0, "sei_images_per_s"), "%.2f"), fmt(jget($0, "sei_gflops"), "%.1f"),
           fmt(jget($0, "sei_pct_of_peak"), "%.1f"),
           t ? fmt(ti, "%.2f") : "SKIP", t ? fmt(jget($0, "speed_ratio"), "%.2fx") : "SKIP",
           fmt(jget($0, "sei_peak_rss_mb"), "%.0f"),
           t ? fmt(jget($0, "torch_peak_rss_mb"), "%.0f") : "SKIP", t ? fmt(jget($0, "rss_ratio"), "%.2f") : "SKIP"
}' torch="$TORCH" "$tmp/rows.jsonl"
[ "$TORCH" = 1 ] || echo "PyTorch: not available (SKIP)"
echo "(sei/torch > 1: sei faster; MB = peak RSS of the whole process, MB ratio = sei/torch)"
echo
echo "time: GEMM ${secs_gemm} s, conv layers ${secs_conv} s, sparse ${secs_sparse} s, networks ${secs_nets} s"

# -------------------------------------------------------------------- results.json
elapsed=$(( $(date +%s) - start ))
jarr() { awk 'BEGIN { printf "[" } { printf "%s%s", (NR > 1 ? ",\n  " : "\n  "), $0 } END { printf "%s]", (NR ? "\n" : "") }' "$1"; }
esc() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain -- . ':!bench/results.json' 2>/dev/null | grep -q . && echo true || echo false)
{
    printf '{"schema":1,"date":"%s","git":"%s","git_dirty":%s,"seconds":%d,\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$rev" "$dirty" "$elapsed"
    printf ' "section_seconds":{"gemm":%d,"conv":%d,"sparse":%d,"nets":%d},\n' "$secs_gemm" "$secs_conv" "$secs_sparse" "$secs_nets"
    printf ' "machine":{"cpu":"%s","cores":%s,"isa":"%s","threads":%s,"peak_gflops_1t":%s,"peak_gflops_threads":%s},\n' \
        "$(esc "$cpu")" "${cores:-0}" "$isa" "$T" "${peak1:-null}" "${peakT:-null}"
    printf ' "config":{"quick":%s,"full":%s,"rounds":%s},\n' \
        "$([ "$QUICK" = 1 ] && echo true || echo false)" "$([ "$FULL" = 1 ] && echo true || echo false)" "$ROUNDS"
    if [ "$TORCH" = 1 ]; then printf ' "pytorch":{"available":true,"version":"%s","config":"%s"},\n' "$(esc "$torchver")" "$(esc "$torchcfg")"
    else printf ' "pytorch":{"available":false},\n'; fi
    printf ' "gemm":'; jarr "$tmp/gemm.jsonl"; printf ',\n'
    printf ' "conv":'; jarr "$tmp/conv.jsonl"; printf ',\n'
    printf ' "sparse":'; jarr "$tmp/sparse.jsonl"; printf ',\n'
    printf ' "nets":'; jarr "$tmp/rows.jsonl"; printf ',\n'
    printf ' "net_runs":'; jarr "$tmp/nets.jsonl"; printf '}\n'
} >"$tmp/results.json"
if mkdir -p "$(dirname "$OUT")" && cp "$tmp/results.json" "$OUT.tmp.$$" && mv -f "$OUT.tmp.$$" "$OUT"; then
    echo "wrote $OUT (${elapsed} s)"
else
    rm -f "$OUT.tmp.$$"; echo "bench: could not write $OUT" >&2; exit 1
fi
