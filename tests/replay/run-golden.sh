#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libgpuvm authors
#
# Checks the gpuvm tool against golden replay files.
#
#   run-golden.sh golden GPUVM DIR NAME
#       Runs DIR/NAME.in. If DIR/NAME.err exists the file must be rejected:
#       exit status 2, standard error exactly NAME.err, standard output
#       exactly NAME.out if that exists, else empty. Otherwise the run must
#       succeed with standard output exactly NAME.out and nothing on standard
#       error. Every run is made in both engine modes (with --check), from
#       standard input, and with CR-LF line ends; all must agree.
#   run-golden.sh generated GPUVM NAME
#       The same for an input built here because it is too large or too
#       binary to keep in the tree; the expected output is spelled out below.
#   run-golden.sh status N [--stdout-has TEXT] [--stderr-has TEXT] CMD [ARG]...
#       CMD must exit with status N (and print TEXT where asked).
#
# Errors name the file as given on the command line; runs happen in the
# input's directory so that the name is just NAME.in, or <stdin>.

set -u

status=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpuvm-golden.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

fail()
{
	echo "FAIL: $*" >&2
	status=1
}

# same LABEL EXPECTED ACTUAL
same()
{
	if ! cmp -s "$2" "$3"; then
		fail "$1 differs from the expectation:"
		diff -u "$2" "$3" | head -n 40 >&2
	fi
}

absolute()
{
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$(pwd)" "$1" ;;
	esac
}

# rep STRING COUNT: STRING repeated COUNT times (awk expands escapes)
rep()
{
	awk -v s="$1" -v n="$2" \
		'BEGIN { for (i = 0; i < n; i++) printf "%s", s }'
}

# check DIR NAME EXPDIR CRLF: run DIR/NAME.in, expectations in EXPDIR
check()
{
	dir=$1
	name=$2
	exp=$3
	crlf=$4

	want=0
	[ -f "$exp/$name.err" ] && want=2
	if [ -f "$exp/$name.out" ]; then
		cp "$exp/$name.out" "$tmp/want.out"
	else
		: >"$tmp/want.out"
	fi
	if [ -f "$exp/$name.err" ]; then
		cp "$exp/$name.err" "$tmp/want.err"
	else
		: >"$tmp/want.err"
	fi

	# Options after the file name too: the tool permutes its arguments.
	(cd "$dir" && "$gpuvm" replay --check "$name.in") \
		>"$tmp/out.callbacks" 2>"$tmp/err.callbacks"
	st_callbacks=$?
	(cd "$dir" && "$gpuvm" replay "$name.in" --mode=ops --check) \
		>"$tmp/out.ops" 2>"$tmp/err.ops"
	st_ops=$?
	for mode in callbacks ops; do
		eval "st=\$st_$mode"
		[ "$st" -eq "$want" ] ||
			fail "$name ($mode): exit status $st, expected $want"
		same "$name ($mode): standard output" \
			"$tmp/want.out" "$tmp/out.$mode"
		same "$name ($mode): standard error" \
			"$tmp/want.err" "$tmp/err.$mode"
	done
	cmp -s "$tmp/out.callbacks" "$tmp/out.ops" ||
		fail "$name: the two modes print different bytes"

	"$gpuvm" replay --mode=ops - <"$dir/$name.in" \
		>"$tmp/out.stdin" 2>"$tmp/err.stdin"
	st=$?
	[ "$st" -eq "$want" ] ||
		fail "$name (stdin): exit status $st, expected $want"
	same "$name (stdin): standard output" "$tmp/want.out" "$tmp/out.stdin"
	sed "s/^$name\\.in:/<stdin>:/" "$tmp/want.err" >"$tmp/want.err.stdin"
	same "$name (stdin): standard error" \
		"$tmp/want.err.stdin" "$tmp/err.stdin"

	# A CR before each LF changes nothing (unless the file has CRs of its
	# own, which then would no longer precede an LF).
	[ "$crlf" = yes ] || return 0
	if grep -q "$(printf '\r')" "$dir/$name.in"; then
		return 0
	fi
	mkdir -p "$tmp/crlf"
	awk '{ printf "%s\r\n", $0 }' "$dir/$name.in" >"$tmp/crlf/$name.in"
	(cd "$tmp/crlf" && "$gpuvm" replay --check "$name.in") \
		>"$tmp/out.crlf" 2>"$tmp/err.crlf"
	st=$?
	[ "$st" -eq "$want" ] ||
		fail "$name (CR-LF): exit status $st, expected $want"
	same "$name (CR-LF): standard output" "$tmp/want.out" "$tmp/out.crlf"
	same "$name (CR-LF): standard error" "$tmp/want.err" "$tmp/err.crlf"
}

MiB=1048576

# generate NAME: writes $gen/NAME.in and the expectations $gen/NAME.out
# and, for a rejected file, $gen/NAME.err
generate()
{
	name=$1
	input=$gen/$name.in
	out=$gen/$name.out
	err=$gen/$name.err

	case $name in
	gen-nul)
		printf 'vm 0x0 0x10000\nmap 0x0 0x1000 - 0x0\n' >"$input"
		printf 'map 0x1000 0x1000 - \000' >>"$input"
		printf '0x0\n' >>"$input"
		printf 'map 0x0 0x1000 - 0x0\n  op map 0x0 0x1000 - 0x0\n' \
			>"$out"
		echo "$name.in:3: invalid byte 0x00" >"$err"
		;;
	gen-garbage)
		printf '\177ELF\002\001\001\000\000\000\000\000' >"$input"
		echo "$name.in:1: invalid byte 0x7f" >"$err"
		;;
	gen-stray-cr)
		printf 'vm 0x0 0x10000\nbo A\r 0x10\n' >"$input"
		echo "$name.in:2: carriage return not followed by a line feed" \
			>"$err"
		;;
	gen-cr-at-eof)
		printf 'vm 0x0 0x10000\r' >"$input"
		echo "$name.in:1: carriage return not followed by a line feed" \
			>"$err"
		;;
	gen-control)
		printf 'vm 0x0 0x10000\nunmap 0x0\v0x10\n' >"$input"
		echo "$name.in:2: invalid byte 0x0b" >"$err"
		;;
	gen-del-in-comment)
		printf 'vm 0x0 0x10000 # \177\n' >"$input"
		echo "$name.in:1: invalid byte 0x7f" >"$err"
		;;
	gen-non-ascii)
		printf 'vm 0x0 0x10000\n# caf\303\251\n' >"$input"
		echo "$name.in:2: invalid byte 0xc3" >"$err"
		;;
	gen-long-comment)
		{
			printf 'vm 0x0 0x10000 #'
			rep x $MiB
			printf '\nmap 0x0 0x1000 - 0x0\n'
		} >"$input"
		printf 'map 0x0 0x1000 - 0x0\n  op map 0x0 0x1000 - 0x0\n' \
			>"$out"
		printf 'state\n  va 0x0 0x1000 - 0x0\n' >>"$out"
		;;
	gen-long-zeros)
		zeros=$(rep 0 $MiB)
		{
			printf 'vm 0x0 0x10000\n'
			printf 'map 0x%s1000 %s4096 - %s\n' \
				"$zeros" "$zeros" "$zeros"
			printf 'unmap 0X%s800 0x%s100\n' "$zeros" "$zeros"
		} >"$input"
		printf 'map 0x1000 0x1000 - 0x0\n  op map 0x1000 0x1000 - 0x0\n' \
			>"$out"
		printf 'unmap 0x800 0x100\nstate\n  va 0x1000 0x1000 - 0x0\n' \
			>>"$out"
		;;
	gen-long-blanks)
		{
			printf 'vm'
			rep ' \t' $MiB
			printf '0x0\t0x10000'
			rep ' ' $MiB
			printf '\n'
		} >"$input"
		printf 'state\n' >"$out"
		;;
	gen-long-name-ok)
		n=n$(rep a 4095)
		printf 'vm 0x0 0x10000\nbo %s 0x1000\nmap 0x0 0x1000 %s 0x0\n' \
			"$n" "$n" >"$input"
		{
			printf 'map 0x0 0x1000 %s 0x0\n' "$n"
			printf '  op map 0x0 0x1000 %s 0x0\n' "$n"
			printf 'state\n  va 0x0 0x1000 %s 0x0\n' "$n"
		} >"$out"
		;;
	gen-long-name-bad)
		printf 'vm 0x0 0x10000\nbo n%s 0x1000\n' "$(rep a 4096)" >"$input"
		printf '%s:2: buffer object name '\''n%s...'\'' too long ' \
			"$name.in" "$(rep a 63)" >"$err"
		printf '(4097 characters, at most 4096)\n' >>"$err"
		;;
	gen-long-name-ref)
		printf 'vm 0x0 0x10000\nmap 0x0 0x1000 %s 0x0\n' \
			"$(rep b $MiB)" >"$input"
		printf '%s:2: buffer object name '\''%s...'\'' too long ' \
			"$name.in" "$(rep b 64)" >"$err"
		printf '(%d characters, at most 4096)\n' $MiB >>"$err"
		;;
	gen-long-command)
		{
			rep x $MiB
			printf ' 0x0 0x10000\n'
		} >"$input"
		printf '%s:1: unknown command '\''%s...'\''\n' \
			"$name.in" "$(rep x 64)" >"$err"
		;;
	gen-long-number)
		printf 'vm 1%s 0x10000\n' "$(rep 0 $MiB)" >"$input"
		printf '%s:1: number '\''1%s...'\'' for START does not fit in ' \
			"$name.in" "$(rep 0 63)" >"$err"
		printf '64 bits\n' >>"$err"
		;;
	gen-many-tokens)
		{
			printf 'vm 0x0 0x10000\nunmap'
			rep ' 0' 100000
			printf '\n'
		} >"$input"
		echo "$name.in:2: expected 2 arguments to 'unmap', got 100000" \
			>"$err"
		;;
	gen-many-lines)
		{
			printf 'vm 0x0 0x10000\n'
			rep '\n' 99999
			printf 'frob\n'
		} >"$input"
		echo "$name.in:100001: unknown command 'frob'" >"$err"
		;;
	*)
		echo "run-golden.sh: no generated case '$name'" >&2
		exit 99
		;;
	esac
}

mode=${1:-}
[ $# -gt 0 ] && shift
case $mode in
golden)
	[ $# -eq 3 ] || exit 99
	gpuvm=$(absolute "$1")
	check "$2" "$3" "$2" yes
	;;
generated)
	[ $# -eq 2 ] || exit 99
	gpuvm=$(absolute "$1")
	gen=$tmp/gen
	mkdir -p "$gen"
	generate "$2"
	check "$gen" "$2" "$gen" no
	;;
status)
	[ $# -ge 2 ] || exit 99
	want=$1
	shift
	out_has=
	err_has=
	while :; do
		case $1 in
		--stdout-has) out_has=$2; shift 2 ;;
		--stderr-has) err_has=$2; shift 2 ;;
		*) break ;;
		esac
	done
	"$@" >"$tmp/out" 2>"$tmp/err"
	st=$?
	[ "$st" -eq "$want" ] || fail "$*: exit status $st, expected $want"
	if [ -n "$out_has" ] && ! grep -qF -e "$out_has" "$tmp/out"; then
		fail "$*: standard output lacks '$out_has'"
	fi
	if [ -n "$err_has" ] && ! grep -qF -e "$err_has" "$tmp/err"; then
		fail "$*: standard error lacks '$err_has'"
	fi
	if [ "$status" -ne 0 ]; then
		echo "standard output:" >&2
		cat "$tmp/out" >&2
		echo "standard error:" >&2
		cat "$tmp/err" >&2
	fi
	;;
*)
	echo "usage: run-golden.sh golden|generated|status ..." >&2
	exit 99
	;;
esac
exit $status
