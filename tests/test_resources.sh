#!/bin/sh
# test_resources.sh - resource errors give one clear line and a non-zero exit, and leave no
# half-written file: out of memory (ulimit -v), an output path that cannot be created, and a
# full disk (a 200 KB tmpfs; needs root and mount, else SKIP): a checkpoint that no longer
# fits fails with "No space left on device" while the previous one stays intact.
#   sh tests/test_resources.sh ./sei
sei=${1:-./sei}
. "$(dirname "$0")/lib.sh"
S="--net vgg16_bn --width-mult 0.0625 --in-ch 1 --data shapes:50 --epochs 1 --quiet --threads 1"

# 1. out of memory: full-width VGG16 in 400 MB of address space (not under a sanitizer or qemu,
#    whose own reservations take the address space)
if [ -n "${SEI_EMULATED:-}" ] || ldd "$sei" 2>/dev/null | grep -q libasan; then
    echo "SKIP resources_out_of_memory: address-space limits do not apply under ASan or qemu"
else
    (ulimit -v 400000; "$sei" train --net vgg16 --data shapes:50 --out "$tmp/oom" --epochs 1 --quiet) >/dev/null 2>"$tmp/oom.err"
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -lt 128 ] && one_line "$tmp/oom.err" && grep -q "out of memory" "$tmp/oom.err"; then
        ok resources_out_of_memory
    else
        fail resources_out_of_memory "exit $rc: $(cat "$tmp/oom.err")"
    fi
fi

# 2. an output path that cannot be created
if "$sei" train $S --out /dev/null/run >/dev/null 2>"$tmp/path.err" || ! one_line "$tmp/path.err" ||
   ! grep -q "/dev/null/run" "$tmp/path.err"; then
    fail resources_unwritable_path "$(cat "$tmp/path.err")"
else
    ok resources_unwritable_path
fi

# 3. a full disk
if [ "$(id -u)" != 0 ] || ! mkdir -p "$tmp/small" || ! mount -t tmpfs -o size=200k tmpfs "$tmp/small" 2>/dev/null; then
    echo "SKIP resources_disk_full: needs root and mount for a small tmpfs"
    exit $status
fi
trap 'umount "$tmp/small" 2>/dev/null; rm -rf "$tmp"' EXIT
"$sei" train $S --out "$tmp/w" >/dev/null 2>&1
cp "$tmp/w/last.safetensors" "$tmp/small/h.st" 2>/dev/null  # a previous file that must survive
cp "$tmp/small/h.st" "$tmp/before.st"
"$sei" split --weights "$tmp/w/last.safetensors" --at features.13 --out-head "$tmp/small/h.st" --out-tail "$tmp/small/t.st" \
    >/dev/null 2>"$tmp/full.err"
rc=$?
if [ $rc -ne 0 ] && one_line "$tmp/full.err" && grep -q "No space left on device" "$tmp/full.err" &&
   ! ls "$tmp"/small/*.tmp >/dev/null 2>&1 && [ ! -f "$tmp/small/t.st" ] &&
   { cmp -s "$tmp/before.st" "$tmp/small/h.st" || "$sei" info --weights "$tmp/small/h.st" >/dev/null 2>&1; }; then
    ok resources_disk_full
else
    fail resources_disk_full "exit $rc: $(cat "$tmp/full.err"); left: $(ls "$tmp/small" | tr '\n' ' ')"
fi
umount "$tmp/small"
exit $status
