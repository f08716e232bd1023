#!/bin/sh
# run.sh - runs every test binary in $1 and every tests/*.sh script (given the sei binary $2),
# counts "ok"/"FAIL"/"SKIP" lines, and ends with "N passed, M failed". A binary or script that
# crashes or exits non-zero without printing FAIL counts as one failure.
# SEI_RUNNER, when set, is a command prefix the test binaries run under (`make test-aarch64`
# sets it to qemu-aarch64 -L /usr/aarch64-linux-gnu; $2 is then a script that runs sei so).
# SEI_TESTS, when set, is the list of tests to run (binaries and scripts: "test_gemm test_mcu.sh");
# the others are left out and counted on one line. Each test's wall time is printed as "time NAME Ns".
dir=$1; sei=$2
export SEI_TEST_DIR="$dir"  # shell tests find tests/tools/ programs in $SEI_TEST_DIR/tools
export SEI_BIN="$sei"   # test_cli calls it
pass=0; fail=0; skip=0; left=0
log=$(mktemp); trap 'rm -f "$log"' EXIT
for t in "$dir"/test_* tests/test_*.sh; do
    [ -f "$t" ] || continue
    case "$t" in *.d) continue ;; esac
    name=$(basename "$t")
    if [ -n "$SEI_TESTS" ]; then
        case " $SEI_TESTS " in *" $name "*) ;; *) left=$((left + 1)); continue ;; esac
    fi
    ran="$ran $name"; t0=$(date +%s)
    if [ "${t%.sh}" != "$t" ]; then sh "$t" "$sei" >"$log" 2>&1; rc=$?
    else $SEI_RUNNER "$t" >"$log" 2>&1; rc=$?; fi
    cat "$log"
    echo "time $name $(( $(date +%s) - t0 ))s"
    p=$(grep -c '^ok ' "$log"); f=$(grep -c '^FAIL ' "$log"); s=$(grep -c '^SKIP ' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $(basename "$t"): exited with status $rc"; f=1
    fi
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
done
for n in $SEI_TESTS; do  # a misspelt name must not pass silently
    case "$ran " in *" $n "*) ;; *) echo "FAIL SEI_TESTS: no test named $n"; fail=$((fail + 1)) ;; esac
done
[ "$left" -eq 0 ] || echo "($left tests left out by SEI_TESTS)"
[ "$skip" -eq 0 ] || echo "($skip skipped: see the SKIP lines above)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
