#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libgpuvm authors
#
# Model-checks the deferred vm_bo cleanup protocol with SPIN.
#
#   run-spin.sh [MODEL]
#
# MODEL defaults to deferred_cleanup.pml next to this script. The SPIN and
# CC environment variables may name the spin binary and the C compiler used
# for the generated verifiers (defaults: spin; cc, else gcc). With
# SPIN_NOREDUCE=1 the two full verifications run without partial-order
# reduction (a cross-check; about ten times the states, still seconds).
#
# PASS (exit 0) iff
#   - the protocol as implemented (queue after unlock) verifies with no
#     error over the full state space, with extobj/evict protected by the
#     VM resv and by a spinlock;
#   - the rejected ordering (queue before unlock) yields a counterexample in
#     both modes; the shortest one is replayed with `spin -t -p` and told
#     step by step;
#   - the other rejected variants fail on the property they break, and the
#     reachability witnesses are reached, so the checks are not vacuous.
# Everything happens in a temporary directory that is removed on exit.

set -u

here=$(cd "$(dirname "$0")" && pwd)
model=${1:-$here/deferred_cleanup.pml}
spin=${SPIN:-spin}
if [ -z "${CC:-}" ]; then
	if command -v cc >/dev/null 2>&1; then CC=cc; else CC=gcc; fi
fi

if ! command -v "$spin" >/dev/null 2>&1; then
	echo "run-spin.sh: spin not found" >&2
	exit 1
fi
if [ ! -r "$model" ]; then
	echo "run-spin.sh: cannot read $model" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpuvm-spin.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP
cp "$model" "$tmp/model.pml" || exit 1

# Depth bound and hash table size (2^20 slots) of every search; the deepest
# path is about 120 steps and the largest search stores about 120,000
# states, so neither bound is reached (checked below).
panflags="-m100000 -w20"

failures=0
final_states=0
cex_summary=""

fail()
{
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# field NAME FILE: one figure from pan's report.
field()
{
	case $1 in
	stored) re='^ *\([0-9][0-9e+.]*\) states, stored.*' ;;
	transitions) re='^ *\([0-9][0-9e+.]*\) transitions.*' ;;
	depth) re='.*depth reached \([0-9]*\),.*' ;;
	errors) re='.*errors: \([0-9]*\).*' ;;
	memory) re='^ *\([0-9.]*\).total actual memory usage.*' ;;
	time) re='^pan: elapsed time \([0-9.e+-]*\).*' ;;
	vector) re='^State-vector \([0-9]*\) byte.*' ;;
	esac
	sed -n "s/$re/\\1/p" "$2"
}

# figures FILE: the search figures on one line.
figures()
{
	echo "$(field stored "$1") states stored," \
		"$(field transitions "$1") transitions," \
		"depth $(field depth "$1")," \
		"state vector $(field vector "$1") B," \
		"$(field memory "$1") MB, $(field time "$1") s"
}

# search NAME CFLAGS SPINFLAGS...: generate the verifier in a directory of
# its own, compile it and run it; pan's report goes to NAME/pan.out.
search()
{
	dir=$tmp/$1
	cflags=$2
	shift 2
	mkdir -p "$dir" && cp "$tmp/model.pml" "$dir/" || return 1
	(cd "$dir" && "$spin" -a "$@" model.pml >spin-a.log 2>&1) || {
		cat "$dir/spin-a.log"
		return 1
	}
	# The verifiers are small: -O0 compiles fastest and runs fast enough.
	# shellcheck disable=SC2086 # cflags and panflags are option lists
	(cd "$dir" && "$CC" -O0 -w $cflags -o pan pan.c >cc.log 2>&1) || {
		cat "$dir/cc.log"
		return 1
	}
	case $cflags in
	*-DNP*) flags="$panflags -l" ;;
	*) flags=$panflags ;;
	esac
	# shellcheck disable=SC2086
	(cd "$dir" && ./pan $flags >pan.out 2>&1)
	if grep -q 'max search depth too small\|out of memory' "$dir/pan.out"
	then
		cat "$dir/pan.out"
		return 1
	fi
}

# verify NAME SPINFLAGS...: the whole state space without an error.
verify()
{
	name=$1
	shift
	cflags=-DSAFETY
	if [ "${SPIN_NOREDUCE:-0}" = 1 ]; then
		cflags="$cflags -DNOREDUCE"
	fi
	echo "== verify: $name (spin -a $*; cc $cflags)"
	search "$name" "$cflags" "$@" || { fail "$name: search"; return; }
	out=$tmp/$name/pan.out
	if [ "$(field errors "$out")" != 0 ] ||
		grep -q 'Search not completed' "$out"; then
		sed -n '1,40p' "$out"
		fail "$name: expected no error and a complete search"
		return
	fi
	echo "   no errors, full state space: $(figures "$out")"
	# how much of each process was reached (README lists what is not)
	sed -n -e 's/^unreached in \(.*\)/   unreached in \1:/p' \
		-e 's/^\t(\([0-9]* of [0-9]* states\))/\1/p' "$out" |
		paste -d ' ' - -
	final_states=$((final_states + $(field stored "$out")))
}

# terminates NAME SPINFLAGS...: no execution runs forever. Without progress
# labels every cycle is a non-progress cycle, so none may exist; together
# with the end-state check of verify, every run ends with all threads done.
terminates()
{
	name=$1
	shift
	echo "== cycles: $name (spin -a $*; cc -DNP; pan -l)"
	search "$name" "-DNP" "$@" || { fail "$name: search"; return; }
	out=$tmp/$name/pan.out
	if [ "$(field errors "$out")" != 0 ] ||
		! grep -q 'non-progress cycles.*+' "$out"; then
		sed -n '1,40p' "$out"
		fail "$name: expected no cycle"
		return
	fi
	echo "   no cycle: $(figures "$out")"
}

# refute NAME PROPERTY SPINFLAGS...: an assertion naming PROPERTY fails.
# The search is breadth-first, so the counterexample is a shortest one.
refute()
{
	name=$1
	prop=$2
	shift 2
	echo "== refute: $name (spin -a $*), expecting $prop"
	search "$name" "-DSAFETY -DBFS" "$@" ||
		{ fail "$name: search"; return; }
	out=$tmp/$name/pan.out
	viol=$(sed -n 's/^pan:1: assertion violated \(.*\) (at depth.*/\1/p' \
		"$out")
	if [ -z "$viol" ] || [ ! -f "$tmp/$name/model.pml.trail" ]; then
		sed -n '1,40p' "$out"
		fail "$name: expected a counterexample, none found"
		return
	fi
	case $viol in
	*"$prop"*) ;;
	*)
		fail "$name: counterexample violates $viol, expected $prop"
		return
		;;
	esac
	echo "   counterexample found: $(figures "$out")"
	echo "   violated: $viol"
}

# replay NAME SPINFLAGS...: tell the counterexample of NAME step by step.
replay()
{
	name=$1
	shift
	trail=$tmp/$name/replay.txt
	(cd "$tmp/$name" &&
		"$spin" -t -p -k model.pml.trail "$@" model.pml >"$trail" 2>&1)
	steps=$(sed -n 's/^spin: trail ends after \([0-9]*\) steps/\1/p' \
		"$trail")
	echo "   replay (spin -t -p): $steps steps; the events in order:"
	sed -n 's/^ *MSC: //p' "$trail" |
		awk '{ printf "   %2d. %s\n", NR, $0 }'
	sed -n 's/^spin: text of failed assertion: \(.*\)/   then \1 fails/p' \
		"$trail"
	holder=$(sed -n 's/^[[:space:]]*gem_freed_holder = \(.*\)/\1/p' \
		"$trail")
	if [ -n "$holder" ] && [ "$holder" != 0 ]; then
		echo "   (the GEM and its mutex died while $holder held it)"
	fi
}

# witness NAME N SPINFLAGS...: the situation WITNESS=N is reachable.
witness()
{
	name=$1
	n=$2
	shift 2
	search "$name" "-DSAFETY" -DWITNESS="$n" "$@" ||
		{ fail "$name: search"; return; }
	re='^pan:1: assertion violated.*\(W[0-9]_[a-z0-9_]*\).*'
	viol=$(sed -n "s/$re/\\1/p" "$tmp/$name/pan.out")
	case $viol in
	W"$n"_*) echo "== witness: $name: reached $viol" ;;
	*) fail "$name: situation W$n never reached" ;;
	esac
}

start=$(date +%s)

# (a) the final ordering: queue after the unlock
verify final-resv -DRESV_PROTECTED=1
verify final-spinlock -DRESV_PROTECTED=0
terminates cycles-resv -DRESV_PROTECTED=1
terminates cycles-spinlock -DRESV_PROTECTED=0

# (b) the rejected ordering: queue before the unlock
refute rejected-resv P1_no_use_after_free_gem_mutex \
	-DRESV_PROTECTED=1 -DQUEUE_BEFORE_UNLOCK
if [ -f "$tmp/rejected-resv/model.pml.trail" ]; then
	replay rejected-resv -DRESV_PROTECTED=1 -DQUEUE_BEFORE_UNLOCK
	cex_summary="use-after-free of the GEM mutex"
fi
refute rejected-spinlock P1_no_use_after_free_gem_mutex \
	-DRESV_PROTECTED=0 -DQUEUE_BEFORE_UNLOCK

# the other rejected variants, each caught by the property it breaks
refute dec-before-lock P2_no_revive -DDEC_BEFORE_LOCK
if [ -f "$tmp/dec-before-lock/model.pml.trail" ]; then
	replay dec-before-lock -DDEC_BEFORE_LOCK
fi
refute signalling-plain-put-resv P5_signalling_no_resv \
	-DRESV_PROTECTED=1 -DSIGNALLING_PLAIN_PUT
refute signalling-plain-put-spinlock P5_signalling_no_free \
	-DRESV_PROTECTED=0 -DSIGNALLING_PLAIN_PUT

# the situations that make the checks meaningful are reached
for mode in 1 0; do
	for n in 1 2 3 4; do
		witness "witness$n-resv$mode" "$n" -DRESV_PROTECTED=$mode
	done
done

echo "total time: $(($(date +%s) - start)) s"

if [ "$failures" -ne 0 ] || [ -z "$cex_summary" ]; then
	echo "spin: FAIL ($failures check(s) failed)"
	exit 1
fi
echo "spin: final ordering verified ($final_states states, both list" \
	"modes), rejected ordering refuted (counterexample: $cex_summary)"
exit 0
