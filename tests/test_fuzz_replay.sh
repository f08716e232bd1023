#!/bin/sh
# test_fuzz_replay.sh - every fuzz target (tests/fuzz/fuzz_*.c, built as a replay driver)
# runs its seed corpus (tests/fuzz/seeds.sh) and its regression inputs
# (tests/fuzz/regress/NAME/: inputs that once crashed) without crashing; under make test
# SAN=1 with the sanitizers on.
#   sh tests/test_fuzz_replay.sh ./sei      (run by make test, which builds the drivers)
sei=${1:-./sei}
. "$(dirname "$0")/lib.sh"
if [ -z "${SEI_TEST_DIR:-}" ] || [ ! -d "$SEI_TEST_DIR/fuzz" ]; then
    echo "SKIP fuzz_replay: the replay drivers are not built (run through make test)"
    exit 0
fi
if ! sh tests/fuzz/seeds.sh "$tmp/seeds" "$sei" >"$tmp/seeds.out" 2>&1; then
    fail fuzz_seeds "$(tail -2 "$tmp/seeds.out")"
    exit 1
fi
for t in "$SEI_TEST_DIR"/fuzz/fuzz_*; do
    case "$t" in *.d) continue ;; esac  # the compiler's dependency files
    name=$(basename "$t" | sed 's/^fuzz_//')
    set -- "$tmp/seeds/$name"/*
    [ -d "tests/fuzz/regress/$name" ] && set -- "$@" "tests/fuzz/regress/$name"/*
    if $SEI_RUNNER "$t" "$@" >"$tmp/$name.out" 2>&1; then
        ok "fuzz_replay_$name"
    else
        fail "fuzz_replay_$name" "$(tail -3 "$tmp/$name.out")"
    fi
done
exit $status
