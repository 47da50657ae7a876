#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libgpuvm authors
#
# Tests of `gpuvm run`: CASE GPUVM JSONCHECK. Runs are bounded by --jobs,
# never by time, and take their seed from GPUVM_SEED (default 7).
set -u

case_name=$1
gpuvm=$2
jsoncheck=$3
seed=${GPUVM_SEED:-7}
echo "seed $seed"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

die() {
	echo "FAIL: $*" >&2
	[ -f "$tmp/out" ] && cat "$tmp/out" >&2
	[ -f "$tmp/err" ] && cat "$tmp/err" >&2
	exit 1
}

# run EXPECTED_STATUS ARGS...: runs gpuvm run, output in $tmp/out, $tmp/err
run() {
	want=$1
	shift
	"$gpuvm" run "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	[ "$got" -eq "$want" ] || die "gpuvm run $* exited $got, expected $want"
}

expect() {
	grep -q -- "$1" "$tmp/out" || die "no '$1' in the output of: $2"
}

# A short run of one workload: the summary, the verification and no
# allocation inside a signalling section.
workload() {
	run 0 --seed "$seed" --jobs "$@"
	expect '^verify: [0-9]* mappings, [0-9]* pages checked, OK$' "$*"
	expect '^allocations inside signalling sections: 0$' "$*"
	expect '^jobs: ' "$*"
	expect '^submit-to-signal latency: p50 ' "$*"
	expect '^live mappings: ' "$*"
	[ -s "$tmp/err" ] && die "unexpected standard error: $*"
	return 0
}

json_keys="workload seed threads queues seconds jobs ops jobs_per_second
ops_per_second latency_ns_p50 latency_ns_p99 run_per_op_ns_p50
run_per_op_ns_p99 live_mappings library_live_bytes tree_bytes pt_table_bytes
bytes_per_mapping pt_entries_written pt_entries_kept pt_pages_kept
zombies_created zombies_cleaned signalling_allocations verify_mappings
verify_pages verify_ok"

case $case_name in
kv-cache)
	workload 40 kv-cache --requests 4 --max-context 1024
	workload 12 kv-cache --requests 2 --max-context 4096 --page-size 2m \
		--threads 1 --queues 1
	;;
sparse-texture)
	workload 30 sparse-texture --resources 2 --tiles 64 --batch 16
	;;
churn)
	workload 40 churn --mappings 2000 --threads 3 --queues 2
	;;
deterministic)
	# Apart from timing, the same seed gives the same final state.
	for w in kv-cache sparse-texture churn; do
		run 0 --seed "$seed" --jobs 20 --json --resources 2 \
			--mappings 1000 --requests 2 --max-context 512 "$w"
		grep -E '"(live_mappings|ops|jobs|pt_entries_written)"' \
			"$tmp/out" >"$tmp/a"
		run 0 --seed "$seed" --jobs 20 --json --resources 2 \
			--mappings 1000 --requests 2 --max-context 512 "$w"
		grep -E '"(live_mappings|ops|jobs|pt_entries_written)"' \
			"$tmp/out" >"$tmp/b"
		cmp -s "$tmp/a" "$tmp/b" || die "$w: two runs differ"
	done
	;;
json)
	for w in kv-cache sparse-texture churn; do
		run 0 --seed "$seed" --jobs 10 --json --resources 2 \
			--mappings 1000 --requests 2 --max-context 512 "$w"
		# shellcheck disable=SC2086
		"$jsoncheck" $json_keys <"$tmp/out" ||
			die "bad JSON from $w"
		expect '"verify_ok": true' "$w --json"
		expect '"signalling_allocations": 0,' "$w --json"
		expect "\"workload\": \"$w\"" "$w --json"
	done
	run 0 --jobs 10 --json --page-size 2m --requests 2 kv-cache
	"$jsoncheck" $json_keys requests_finished page_size <"$tmp/out" ||
		die "bad kv-cache JSON"
	run 0 --jobs 10 --json --resources 2 sparse-texture
	"$jsoncheck" $json_keys frames frame_ns_p50 frame_ns_p99 <"$tmp/out" ||
		die "bad sparse-texture JSON"
	# The checker itself rejects broken input.
	printf '{"a": 1,}' | "$jsoncheck" 2>/dev/null &&
		die "jsoncheck accepted a trailing comma"
	printf '{"a": 1}' | "$jsoncheck" b 2>/dev/null &&
		die "jsoncheck missed a key"
	;;
cli)
	run 0 --help
	expect '^Usage: ' "--help"
	for o in --seed --seconds --jobs --threads --queues --json \
		--page-size --tiles --mappings; do
		expect "$o" "--help"
	done
	for bad in "--seed x" "--seconds 0" "--seconds abc" "--jobs 0" \
		"--threads 0" "--queues 100" "--page-size 3k" "--tiles 0" \
		"--mappings 2000000" "--bogus" "no-such-workload" \
		"kv-cache churn" "--requests 1 --threads 2"; do
		# shellcheck disable=SC2086
		run 2 $bad
		grep -q '^Usage: ' "$tmp/err" || die "no usage for: $bad"
		[ -s "$tmp/out" ] && die "standard output for: $bad"
	done
	;;
*)
	die "unknown case $case_name"
	;;
esac
echo "ok $case_name"
