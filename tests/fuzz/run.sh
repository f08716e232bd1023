#!/bin/sh
# run.sh - make fuzz: runs every libFuzzer target in DIR for SECONDS from its seeds
# (tests/fuzz/seeds.sh) and its corpus in fuzz/corpus/NAME (kept between runs), with
# crashes written to fuzz/crashes/NAME-*. Prints executions and new coverage per target;
# exits non-zero when a target crashed. Copy a crash to tests/fuzz/regress/NAME/ to make it
# a regression test (make test replays those).
#   sh tests/fuzz/run.sh DIR ./sei SECONDS
dir=$1; sei=$2; secs=${3:-60}
mkdir -p fuzz/crashes
sh tests/fuzz/seeds.sh fuzz/seeds "$sei" || exit 1
bad=0
for t in "$dir"/fuzz_*; do
    name=$(basename "$t" | sed 's/^fuzz_//')
    mkdir -p "fuzz/corpus/$name"
    "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 -print_final_stats=1 \
        -artifact_prefix="fuzz/crashes/$name-" "fuzz/corpus/$name" "fuzz/seeds/$name" >"fuzz/$name.log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "fuzz/$name.log")
    cov=$(grep -o 'cov: [0-9]*' "fuzz/$name.log" | tail -1)
    printf '%-16s %ss  %12s executions  %s%s\n' "$name" "$secs" "${execs:-?}" "$cov" "$([ $rc = 0 ] || echo "  CRASH (fuzz/$name.log)")"
    [ $rc = 0 ] || bad=1
done
exit $bad
