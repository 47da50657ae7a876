#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libgpuvm authors
#
# The whole test suite: a normal build with warnings as errors, the same
# tests again under AddressSanitizer+UBSan, the unit and stress tiers under
# ThreadSanitizer, and a bounded libFuzzer run over the replay parser. Ends
# with one line "N passed, M failed".
#
# Usage: scripts/test.sh [--fuzz-seconds N] [--no-asan] [--no-tsan] [--no-fuzz]
set -u
cd "$(dirname "$0")/.."

fuzz_seconds=60
do_asan=1
do_tsan=1
do_fuzz=1
while [ $# -gt 0 ]; do
	case "$1" in
	--fuzz-seconds) fuzz_seconds=$2; shift 2 ;;
	--no-asan) do_asan=0; shift ;;
	--no-tsan) do_tsan=0; shift ;;
	--no-fuzz) do_fuzz=0; shift ;;
	*) echo "usage: $0 [--fuzz-seconds N] [--no-asan] [--no-tsan] [--no-fuzz]" >&2; exit 2 ;;
	esac
done

passed=0
failed=0
logdir=$(mktemp -d)

# Adds the Ok/Fail counts of a meson test log summary to the totals.
count_meson() {
	local log=$1 ok fail
	ok=$(awk '/^Ok:/ { print $2 }' "$log" | tail -n 1)
	fail=$(awk '/^(Fail|Unexpected Pass|Timeout):/ { s += $NF } END { print s + 0 }' "$log")
	if [ -z "$ok" ]; then
		echo "!! no test summary in $log"
		failed=$((failed + 1))
		return
	fi
	passed=$((passed + ok))
	failed=$((failed + fail))
}

# Configures BUILDDIR with the given options, reusing it if it exists.
setup_dir() {
	local dir=$1
	shift
	if [ -d "$dir/meson-private" ]; then
		meson setup --reconfigure "$dir" "$@"
	else
		meson setup "$dir" "$@"
	fi
}

# suite NAME BUILDDIR "MESON TEST ARGS" [meson setup args...]
suite() {
	local name=$1 dir=$2 testargs=$3
	shift 3
	echo "=== $name"
	if ! setup_dir "$dir" "$@" >"$logdir/$name.setup" 2>&1; then
		cat "$logdir/$name.setup"
		echo "!! $name: configure failed"
		failed=$((failed + 1))
		return
	fi
	if ! ninja -C "$dir" >"$logdir/$name.build" 2>&1; then
		tail -n 60 "$logdir/$name.build"
		echo "!! $name: build failed"
		failed=$((failed + 1))
		return
	fi
	# shellcheck disable=SC2086
	meson test -C "$dir" --print-errorlogs --num-processes 2 $testargs \
		>"$logdir/$name.test" 2>&1
	grep -E '^ *[0-9]+/[0-9]+ ' "$logdir/$name.test" | grep -v ' OK ' || true
	tail -n 8 "$logdir/$name.test"
	count_meson "$logdir/$name.test"
}

suite normal build-test "" -Dwerror=true -Dbench=true

if [ $do_asan -eq 1 ]; then
	# Every test again; the style, ABI and model checks do not change with
	# the sanitizer and are left out.
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		suite asan-ubsan build-asan \
		"--no-suite style --no-suite abi --no-suite model" \
		-Dwerror=true -Dbench=false \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fno-sanitize-recover=all
fi

if [ $do_tsan -eq 1 ]; then
	# The concurrent code under ThreadSanitizer: the unit and stress tiers.
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		suite tsan build-tsan "--suite unit --suite stress" \
		-Dwerror=true -Dbench=false \
		-Db_sanitize=thread -Db_lundef=false
fi

if [ $do_fuzz -eq 1 ]; then
	echo "=== fuzz (libFuzzer, ${fuzz_seconds}s)"
	if command -v clang >/dev/null &&
		CC=clang setup_dir build-fuzz -Dfuzzing=true -Dbench=false \
			-Db_sanitize=address,undefined -Db_lundef=false \
			-Dc_args=-fsanitize=fuzzer-no-link >"$logdir/fuzz.setup" 2>&1 &&
		ninja -C build-fuzz tests/fuzz/fuzz_replay >"$logdir/fuzz.build" 2>&1; then
		corpus=$(mktemp -d)
		cp tests/replay/*.in "$corpus"/
		if ./build-fuzz/tests/fuzz/fuzz_replay -max_total_time="$fuzz_seconds" \
			-max_len=4096 -timeout=10 -rss_limit_mb=4096 \
			-print_final_stats=1 "$corpus" >"$logdir/fuzz.log" 2>&1; then
			grep -E 'stat::number_of_executed_units|Done' "$logdir/fuzz.log" | tail -n 2
			passed=$((passed + 1))
		else
			tail -n 40 "$logdir/fuzz.log"
			echo "!! fuzz: crash found (artifacts in the current directory)"
			failed=$((failed + 1))
		fi
		rm -rf "$corpus"
	else
		cat "$logdir/fuzz.setup" "$logdir/fuzz.build" 2>/dev/null | tail -n 30
		echo "!! fuzz: could not build the fuzzer"
		failed=$((failed + 1))
	fi
fi

rm -rf "$logdir"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
