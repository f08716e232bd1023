#!/bin/sh
# test_mcu.sh - `sei export` of device parts as C99, checked on the host and on an emulated
# Cortex-M4 (QEMU's MPS2-AN386 board, semihosting, tests/mcu/cortexm.c + mps2.ld: a 2 MB
# flash / 512 KB RAM part). Four heads of nets trained for a moment on the shapes set: three
# width-0.25 VGG16-BN ones, a dense one and one with unstructured (weight) sparse convs cut
# at the second pool (features.13), and one with channel-sparse convs, an early exit and an
# int8 bottleneck encoder, cut at its wire; and a width-0.125 ResNet-50 cut after layer2.0
# (stem, four bottlenecks, two with a downsample).
#  - int8: the exported C compiled on the host reproduces sei's int8 payloads bit for bit,
#    and the Cortex-M run prints the same check line (same CRC of every payload);
#  - fp32: the host and the Cortex-M payloads are within 1e-5 of the engine's forward pass;
#  - the int8 payload is within 15% (relative RMS) of the fp32 program's;
#  - flash and RAM use (arm-none-eabi-size) and instructions per image (QEMU icount) are
#    printed; the link fails if they do not fit; the dense int8 head takes under 6
#    instructions per multiply-add, the weight-sparse one under 0.75 of the dense one's;
#  - bad input fails in one line.
# The Cortex-M half SKIPs without arm-none-eabi-gcc / qemu-system-arm.
#   sh tests/test_mcu.sh ./sei
sei=${1:-./sei}
. "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")/mcu" && pwd)
CC_HOST=${CC_HOST:-cc}
arm=1
if ! command -v arm-none-eabi-gcc >/dev/null || ! command -v qemu-system-arm >/dev/null; then
    echo "SKIP mcu_cortex_m: arm-none-eabi-gcc or qemu-system-arm missing (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"
    arm=0
fi
NET="--net vgg16_bn --width-mult 0.25 --in-ch 1 --data shapes:200 --batch 16 --threads 2 --quiet --epochs 1 --seed 3"
if ! "$sei" train $NET --out "$tmp/dense" >"$tmp/t1.out" 2>&1 ||
   ! "$sei" split --weights "$tmp/dense/last.safetensors" --at features.13 --out-head "$tmp/d.h.st" --out-tail "$tmp/d.t.st" >/dev/null 2>&1 ||
   ! "$sei" train $NET --density 0.25 --sparse-until features.23 --out "$tmp/sparse" >"$tmp/t2.out" 2>&1 ||
   ! "$sei" train $NET --init "$tmp/sparse/last.safetensors" --split-at features.23 --ratio 8 --wire int8 \
       --exit-at features.13 --out "$tmp/full" >"$tmp/t2.out" 2>&1 ||
   ! "$sei" split --weights "$tmp/full/last.safetensors" --at bottleneck.wire --out-head "$tmp/f.h.st" --out-tail "$tmp/f.t.st" >/dev/null 2>&1 ||
   ! "$sei" train $NET --density 0.3 --sparse-until features.13 --sparsity weight --out "$tmp/wsparse" >"$tmp/t2.out" 2>&1 ||
   ! "$sei" split --weights "$tmp/wsparse/last.safetensors" --at features.13 --out-head "$tmp/w.h.st" --out-tail "$tmp/w.t.st" >/dev/null 2>&1 ||
   ! "$sei" train --net resnet50 --width-mult 0.125 --in-ch 1 --data shapes:200 --batch 16 --threads 2 --quiet --epochs 1 --seed 3 \
       --out "$tmp/res" >"$tmp/t1.out" 2>&1 ||
   ! "$sei" split --weights "$tmp/res/last.safetensors" --at layer2.0 --out-head "$tmp/r.h.st" --out-tail "$tmp/r.t.st" >/dev/null 2>&1; then
    fail mcu_setup "$(tail -2 "$tmp/t1.out") $(tail -2 "$tmp/t2.out")"
    exit 1
fi

# build DIR TARGET: compiles DIR's export (named head) with tests/mcu/check.c for the host or Cortex-M
build() {
    if [ "$2" = host ]; then
        $CC_HOST -std=c99 -O2 -Wall -Wextra -Werror -pedantic -I"$1" "$here/check.c" "$here/host.c" "$1/head.c" -o "$1/check" 2>&1
    else
        arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -O2 -std=c99 -Wall -Wextra -Werror \
            -ffreestanding -nostdlib -I"$1" -T "$here/mps2.ld" "$here/cortexm.c" "$here/check.c" "$1/head.c" -lgcc \
            -o "$1/check.elf" 2>&1
    fi
}
# -icount shift=0: one instruction per virtual ns, so the 25 MHz SysTick ticks once per 40
# instructions: the sample lines' ticks x 40 are instructions (not Cortex-M4 cycles)
run_m4() { timeout 120 qemu-system-arm -M mps2-an386 -nographic -semihosting-config enable=on,target=native -icount shift=0 -kernel "$1" 2>&1; }

# check LABEL WEIGHTS QUANT [export flags]: export, then host and Cortex-M runs
check() {
    label=$1 w=$2 q=$3
    shift 3
    d="$tmp/$label"
    if ! "$sei" export --weights "$w" --quant "$q" --out "$d" --name head --samples 4 "$@" >"$d.out" 2>&1; then
        fail "mcu_export_$label" "$(tail -2 "$d.out")"
        return
    fi
    if [ "$q" = int8 ]; then
        rms=$(sed -n 's/^int8 payload vs the fp32 program.s: relative RMS error \([0-9.e+-]*\) over.*/\1/p' "$d.out")
        if [ -n "$rms" ] && awk -v r="$rms" 'BEGIN { exit !(r < 0.15) }'; then
            ok "mcu_int8_close_$label"
        else
            fail "mcu_int8_close_$label" "relative RMS error '$rms' (want < 0.15): $(grep RMS "$d.out")"
        fi
    fi
    if build "$d" host >"$d.cc" && "$d/check" >"$d.host" && grep -q "^check: 4 ok, 0 failed" "$d.host"; then
        ok "mcu_host_$label"
    else
        fail "mcu_host_$label" "$(tail -3 "$d.cc") $(tail -3 "$d.host" 2>/dev/null)"
        return
    fi
    [ $arm = 1 ] || return
    if build "$d" m4 >"$d.acc" && run_m4 "$d/check.elf" >"$d.m4" &&
       [ "$(grep '^check:' "$d.m4")" = "$(grep '^check:' "$d.host")" ]; then
        ok "mcu_cortex_m4_$label"
        insn=$(sed -n 's/.*payload.*, \([0-9]*\) ticks ok$/\1/p' "$d.m4" | sort -n | tail -1)
        eval "ticks_$label=\${insn:-0}"
        macs=$("$sei" info --weights "$w" 2>/dev/null | awk '/^device part/ { print $NF }')
        arm-none-eabi-size "$d/check.elf" | awk -v l="$label" -v t="${insn:-0}" -v m="${macs:-0}" 'NR == 2 {
            printf "  %s on Cortex-M4: flash %d bytes (text + data), RAM %d bytes (data + bss, stack apart), %.2f M instructions per image sent (QEMU icount; %.2f per multiply-add)\n",
                   l, $1 + $2, $2 + $3, t * 40 / 1e6, (m > 0 ? t * 40 / m : 0) }'
        # the dense head's convs run in four-output tiles: about 4 instructions per
        # multiply-add (one output at a time with bounds on every tap, it was 14)
        if [ -n "$ipm_max" ]; then
            if [ -n "$insn" ] && [ -n "$macs" ] && awk -v t="$insn" -v m="$macs" -v x="$ipm_max" 'BEGIN { exit !(m > 0 && t * 40 / m < x) }'; then
                ok "mcu_cortex_m4_speed_$label"
            else
                fail "mcu_cortex_m4_speed_$label" "$insn ticks x 40 over $macs multiply-adds is not below $ipm_max instructions each"
            fi
        fi
    else
        fail "mcu_cortex_m4_$label" "$(tail -3 "$d.acc") | host: $(grep '^check:' "$d.host") | m4: $(tail -2 "$d.m4" 2>/dev/null)"
    fi
}
ipm_max=6
check dense_int8 "$tmp/d.h.st" int8
ipm_max=
check dense_fp32 "$tmp/d.h.st" fp32
check full_int8 "$tmp/f.h.st" int8 --exit-tau 0.3
check full_fp32 "$tmp/f.h.st" fp32 --exit-tau 0.3
check wsparse_int8 "$tmp/w.h.st" int8
# weight-sparse convs (30% of the weights kept) grouped by kernel position cost an index and
# an address multiply-add per kept weight: 0.63 of the dense head's instructions (decoding
# each position with divisions they took 1.05)
if [ $arm = 1 ]; then
    if awk -v s="${ticks_wsparse_int8:-0}" -v d="${ticks_dense_int8:-0}" 'BEGIN { exit !(s > 0 && d > 0 && s < 0.75 * d) }'; then
        ok mcu_cortex_m4_sparse_faster
    else
        fail mcu_cortex_m4_sparse_faster "weight-sparse head ${ticks_wsparse_int8:-?} ticks, dense ${ticks_dense_int8:-?}: want below 0.75 of dense"
    fi
fi
check wsparse_fp32 "$tmp/w.h.st" fp32
check resnet_int8 "$tmp/r.h.st" int8
# the arena holds what is alive at once: at its peak (conv3 and the downsample of layer1.0,
# or conv3 of layer1.1) two 32x8x8 int8 activations and one 8x8x8, 4608 bytes; three fixed
# regions, each sized for the largest activation, took 6144
arena=$(sed -n 's/^#define HEAD_ARENA_BYTES \([0-9]*\)$/\1/p' "$tmp/resnet_int8/head.h" 2>/dev/null)
if [ "$arena" = 4608 ]; then ok mcu_arena_peak_resnet; else fail mcu_arena_peak_resnet "arena '$arena' bytes, want 4608"; fi
check resnet_fp32 "$tmp/r.h.st" fp32

# the int8 head with its tail: the split network's accuracy with both heads is reported
if "$sei" export --weights "$tmp/d.h.st" --out "$tmp/acc" --tail "$tmp/d.t.st" --limit 100 >"$tmp/acc.out" 2>&1 &&
   grep -q "^split accuracy on [0-9]* test images: fp32 head [0-9.]*%.*int8 head [0-9.]*%" "$tmp/acc.out"; then
    ok mcu_split_accuracy
else
    fail mcu_split_accuracy "$(tail -2 "$tmp/acc.out")"
fi

# bad input: one line, non-zero exit
bad=0
for args in "--weights $tmp/d.t.st --out $tmp/x" "--weights $tmp/d.h.st --out $tmp/x --quant int4" \
            "--weights $tmp/d.h.st --out $tmp/x --name 9lives" "--weights $tmp/d.h.st --out $tmp/x --exit-tau 0.5" \
            "--weights $tmp/d.h.st --out $tmp/x --target rust" "--weights $tmp/d.h.st" \
            "--weights $tmp/d.h.st --out $tmp/x --tail $tmp/f.t.st"; do
    if "$sei" export $args >"$tmp/bad.out" 2>"$tmp/bad.err" || ! one_line "$tmp/bad.err"; then
        fail mcu_export_bad_input "accepted or not one line: $args: $(cat "$tmp/bad.err")"; bad=1
    fi
done
[ $bad -eq 0 ] && ok mcu_export_bad_input
exit $status
