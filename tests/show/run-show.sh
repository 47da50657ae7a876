#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libgpuvm authors
#
# Checks `gpuvm show`:
#
#   run-show.sh CASE GPUVM SVGCHECK SRCDIR
#
# CASE names a group of checks below; SVGCHECK is the well-formedness
# checker built next to this script; SRCDIR is the project's source root.
# Pictures are checked for structure (one rectangle per mapping, bins when
# dense, the reserved band, the legend, hex axis labels) and for being the
# same bytes run after run, never against stored pictures.

set -u

absolute()
{
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$(pwd)" "$1" ;;
	esac
}

case=$1
gpuvm=$(absolute "$2")
svgcheck=$(absolute "$3")
src=$(absolute "$4")

status=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpuvm-show.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
trap 'exit 99' HUP INT TERM

fail()
{
	echo "FAIL: $*" >&2
	status=1
}

# run N CMD [ARG]...: CMD must exit with N; output in $tmp/out, $tmp/err
run()
{
	want=$1
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" -ne "$want" ]; then
		fail "exit status $got instead of $want: $*"
		sed 's/^/  stderr: /' "$tmp/err" | head -n 5 >&2
	fi
}

# svg FILE: FILE must be a well-formed SVG 1.1 document; its element and
# class counts go to $tmp/counts
svg()
{
	if ! "$svgcheck" "$1" >"$tmp/counts"; then
		fail "$1 is not a well-formed SVG 1.1 document"
		: >"$tmp/counts"
	fi
}

# count NAME: occurrences of an element name or "class=VALUE" in the last
# checked document
count()
{
	awk -v k="$1" '$1 == k { n = $2 } END { print n + 0 }' "$tmp/counts"
}

# want_count NAME N
want_count()
{
	got_count=$(count "$1")
	[ "$got_count" -eq "$2" ] ||
		fail "$1 occurs $got_count times, expected $2"
}

# has FILE TEXT / hasnt FILE TEXT
has()
{
	grep -F -q -e "$2" "$1" || fail "$1 lacks '$2'"
}

hasnt()
{
	if grep -F -q -e "$2" "$1"; then
		fail "$1 has '$2'"
	fi
}

# same A B: identical bytes
same()
{
	cmp -s "$1" "$2" || fail "$1 and $2 differ"
}

# mappings FILE: the number of mappings a replay file leaves
mappings()
{
	"$gpuvm" replay "$1" | grep -c '^  va '
}

case_quickstart()
{
	f=$src/examples/quickstart.replay
	run 0 "$gpuvm" show "$f"
	[ -s "$tmp/err" ] && fail "stderr not empty"
	svg "$tmp/out"
	want_count class=map "$(mappings "$f")"
	want_count class=map 2
	want_count class=bin 0
	want_count class=reserved 1
	want_count class=detail 0
	has "$tmp/out" '<title>0x10000+0xc000 heap@0x0</title>'
	has "$tmp/out" '<title>0x24000+0x4000 -@0x4000 (sparse)</title>'
	has "$tmp/out" 'fill="url(#sparse)"'
	has "$tmp/out" '>reserved</text>'
	has "$tmp/out" 'reserved 0xf0000+0x10000'
	has "$tmp/out" '>heap: 1 mapping, 0xc000 (48 KiB)</text>'
	has "$tmp/out" '>- (sparse): 1 mapping, 0x4000 (16 KiB)</text>'
	has "$tmp/out" '>0x0</text>'
	has "$tmp/out" '>0x80000</text>'
	has "$tmp/out" '>0x100000</text>'
	has "$tmp/out" 'VA space 0x0-0x100000 (1 MiB): 2 mappings'
	has "$tmp/out" '2 mappings (1 sparse) of 1 object'
	has "$tmp/out" 'largest hole: 0xc8000 (800 KiB) at 0x28000'
	has "$tmp/out" "<title>$f</title>"
	# tex is declared but maps nothing in the end: not in the legend
	hasnt "$tmp/out" '>tex:'
}

case_small()
{
	f=$src/tests/show/small.replay
	run 0 "$gpuvm" show "$f"
	svg "$tmp/out"
	want_count class=map "$(mappings "$f")"
	want_count class=map 11
	want_count class=bin 0
	want_count class=reserved 1
	# One swatch per object with mappings, sparse, reserved and hole.
	want_count class=swatch 7
	# Colours follow the declaration rank: shader (rank 3) maps nothing,
	# uniform (rank 4) still gets the fifth colour.
	grep -F 'class="swatch"' "$tmp/out" | head -n 4 >"$tmp/swatches"
	has "$tmp/swatches" 'fill="#4e79a7"'
	has "$tmp/swatches" 'fill="#f28e2b"'
	has "$tmp/swatches" 'fill="#59a14f"'
	has "$tmp/swatches" 'fill="#b07aa1"'
	hasnt "$tmp/out" 'shader'
	has "$tmp/out" '>uniform: 2 mappings, 0x40000 (256 KiB)</text>'
	has "$tmp/out" '>texture: 3 mappings, 0x1f8000 (1.9 MiB)</text>'
	# Every uniform rectangle has its colour, every texture one its own.
	n=$(grep -F 'class="map"' "$tmp/out" | grep -F ' uniform@' |
		grep -c -F 'fill="#b07aa1"')
	[ "$n" -eq 2 ] || fail "$n uniform rectangles in #b07aa1, expected 2"
	n=$(grep -F 'class="map"' "$tmp/out" | grep -F ' texture@' |
		grep -c -F 'fill="#59a14f"')
	[ "$n" -eq 3 ] || fail "$n texture rectangles in #59a14f, expected 3"
	has "$tmp/out" '<title>0x188000+0x78000 texture@0x88000</title>'
	has "$tmp/out" 'reserved: 0x200000+0x40000 (256 KiB)'
}

# A 10^5-mapping file, made here: too large to keep in the tree.
make_dense()
{
	seed=${GPUVM_SEED:-1}
	echo "seed $seed (set GPUVM_SEED to change it)"
	sh "$src/tests/show/gen-dense.sh" 100000 "$seed" >"$tmp/dense.replay" ||
		fail "gen-dense.sh failed"
	dense_n=$(mappings "$tmp/dense.replay")
	[ "$dense_n" -eq 100000 ] ||
		fail "the generated file leaves $dense_n mappings, not 100000"
}

case_dense()
{
	make_dense
	run 0 "$gpuvm" show "$tmp/dense.replay"
	cp "$tmp/out" "$tmp/a.svg"
	svg "$tmp/a.svg"
	# 1200 px wide, 24 px margins: 1152 one-pixel bins.
	has "$tmp/a.svg" "aggregated: $dense_n mappings in 1152 bins"
	bins=$(count class=bin)
	[ "$bins" -ge 1 ] && [ "$bins" -le 1152 ] ||
		fail "$bins bin rectangles, expected 1 to 1152"
	# The detail strip draws the densest region mapping by mapping,
	# about eight pixels each.
	want_count class=detail 1
	has "$tmp/a.svg" 'densest region 0x'
	maps=$(count class=map)
	[ "$maps" -ge 1 ] && [ "$maps" -le 144 ] ||
		fail "$maps mapping rectangles in the detail strip"
	want_count class=zoom 1
	size=$(wc -c <"$tmp/a.svg")
	[ "$size" -lt 1000000 ] || fail "the picture takes $size bytes"

	# The same picture from standard input and through the ops API.
	run 0 "$gpuvm" show --title "$tmp/dense.replay" --mode=ops - \
		<"$tmp/dense.replay"
	same "$tmp/a.svg" "$tmp/out"
	run 0 "$gpuvm" show --width 2000 "$tmp/dense.replay"
	svg "$tmp/out"
	has "$tmp/out" "aggregated: $dense_n mappings in 1952 bins"
}

case_range()
{
	f=$src/tests/show/small.replay
	run 0 "$gpuvm" show --range 0x100000:0x200000 "$f"
	cp "$tmp/out" "$tmp/hex.svg"
	svg "$tmp/hex.svg"
	has "$tmp/hex.svg" 'range 0x100000-0x200000 (1 MiB): 3 mappings'
	want_count class=detail 1
	want_count class=map 14
	run 0 "$gpuvm" show --range=1048576:2097152 "$f"
	same "$tmp/hex.svg" "$tmp/out"
	# Clipped to the VA space.
	run 0 "$gpuvm" show -r 0x300000:0xffffffffffffffff "$f"
	svg "$tmp/out"
	has "$tmp/out" 'range 0x300000-0x400000 (1 MiB): 3 mappings'
	# Into the reserved region only.
	run 0 "$gpuvm" show -r 0x210000:0x220000 "$f"
	svg "$tmp/out"
	has "$tmp/out" 'range 0x210000-0x220000 (64 KiB): 0 mappings'
	want_count class=reserved 2

	make_dense
	run 0 "$gpuvm" show --range 0:0x200000000 "$tmp/dense.replay"
	svg "$tmp/out"
	n=$(grep -c -F "aggregated: $dense_n mappings in 1152 bins" "$tmp/out")
	[ "$n" -eq 2 ] || fail "$n aggregated strips, expected 2"
}

case_deterministic()
{
	f=$src/tests/show/small.replay
	run 0 "$gpuvm" show --title T "$f"
	cp "$tmp/out" "$tmp/a.svg"
	run 0 "$gpuvm" show --title T "$f"
	same "$tmp/a.svg" "$tmp/out"
	run 0 "$gpuvm" show --title T --mode ops "$f"
	same "$tmp/a.svg" "$tmp/out"
	run 0 "$gpuvm" show --title T - <"$f"
	same "$tmp/a.svg" "$tmp/out"
	run 0 "$gpuvm" show --title T -o "$tmp/b.svg" "$f"
	[ -s "$tmp/out" ] && fail "-o FILE: stdout not empty"
	same "$tmp/a.svg" "$tmp/b.svg"
	run 0 "$gpuvm" show --title T -o - "$f"
	same "$tmp/a.svg" "$tmp/out"
	# CR-LF line ends read the same.
	sed 's/$/\r/' "$f" >"$tmp/crlf.replay"
	run 0 "$gpuvm" show --title T "$tmp/crlf.replay"
	same "$tmp/a.svg" "$tmp/out"
}

case_escape()
{
	f=$src/examples/quickstart.replay
	run 0 "$gpuvm" show --title '<a & "b" '"'c'"'>' "$f"
	svg "$tmp/out"
	has "$tmp/out" '<title>&lt;a &amp; &quot;b&quot; &apos;c&apos;&gt;</title>'
	run 0 "$gpuvm" show --title "$(printf 'x\377y\001z')" "$f"
	svg "$tmp/out"
	has "$tmp/out" '<title>x?y?z</title>'
	run 0 "$gpuvm" show --title "$(printf 'caf\303\251 \342\200\224')" "$f"
	svg "$tmp/out"
	has "$tmp/out" "<title>$(printf 'caf\303\251 \342\200\224')</title>"
	# Long names are cut short in the legend, kept whole in tooltips.
	long=n0123456789012345678901234567890123456789
	printf 'vm 0 0x10000\nbo %s 0x1000\nmap 0 0x1000 %s 0\n' \
		"$long" "$long" >"$tmp/long.replay"
	run 0 "$gpuvm" show "$tmp/long.replay"
	svg "$tmp/out"
	has "$tmp/out" "<title>0x0+0x1000 $long@0x0</title>"
	has "$tmp/out" '>n012345678901234567890123456...: 1 mapping'
}

# Errors in the file are reported exactly as `gpuvm replay` reports them.
case_file_errors()
{
	cd "$src/tests/replay" || exit 99
	n=0
	for f in bad-*.in; do
		"$gpuvm" replay "$f" >/dev/null 2>"$tmp/want.err"
		run 2 "$gpuvm" show "$f"
		[ -s "$tmp/out" ] && fail "$f: stdout not empty"
		same "$tmp/want.err" "$tmp/err"
		"$gpuvm" replay - <"$f" >/dev/null 2>"$tmp/want.err"
		run 2 "$gpuvm" show --mode=ops - <"$f"
		[ -s "$tmp/out" ] && fail "$f from stdin: stdout not empty"
		same "$tmp/want.err" "$tmp/err"
		n=$((n + 1))
	done
	[ "$n" -gt 40 ] || fail "only $n bad-*.in files found"
	echo "$n rejected files"
}

case_cli()
{
	f=$src/examples/quickstart.replay
	run 0 "$gpuvm" show --help
	has "$tmp/out" '--range=START:END'
	has "$tmp/out" '--width=PX'
	run 0 "$gpuvm" --help
	has "$tmp/out" 'show'
	run 2 "$gpuvm" show
	has "$tmp/err" 'missing FILE'
	run 2 "$gpuvm" show "$f" "$f"
	has "$tmp/err" 'too many arguments'
	run 2 "$gpuvm" show --frob "$f"
	has "$tmp/err" 'Usage:'
	for r in 5:3 3:3 0x10 : 1: :2 1:0xg 0x:1 1:99999999999999999999 \
		-1:2 ' 1:2'; do
		run 2 "$gpuvm" show --range "$r" "$f"
		has "$tmp/err" "invalid range '$r'"
		[ -s "$tmp/out" ] && fail "--range $r: stdout not empty"
	done
	run 2 "$gpuvm" show --range 0x100000:0x200000 "$f"
	has "$tmp/err" 'is outside the VA space'
	[ -s "$tmp/out" ] && fail "range outside: stdout not empty"
	for w in 599 20001 abc '' 1e3 0x; do
		run 2 "$gpuvm" show --width "$w" "$f"
		has "$tmp/err" "invalid width '$w'"
	done
	run 0 "$gpuvm" show --width 600 "$f"
	svg "$tmp/out"
	has "$tmp/out" 'width="600"'
	run 0 "$gpuvm" show -w 0x4e20 "$f"
	svg "$tmp/out"
	has "$tmp/out" 'width="20000"'
	run 2 "$gpuvm" show --mode=frob "$f"
	has "$tmp/err" "unknown mode 'frob'"
	run 2 "$gpuvm" show "$tmp/no-such-file"
	has "$tmp/err" "gpuvm show: cannot open '$tmp/no-such-file'"
	run 2 "$gpuvm" show -o "$tmp/no-such-dir/x.svg" "$f"
	has "$tmp/err" "cannot open '$tmp/no-such-dir/x.svg'"
	run 2 "$gpuvm" show "$src/tests/replay"
	has "$tmp/err" 'read error'
	run 0 "$gpuvm" show -m ops -t T -w 800 -r 0:0x40000 -o "$tmp/x.svg" "$f"
	svg "$tmp/x.svg"
	has "$tmp/x.svg" '<title>T</title>'
	if [ -w /dev/full ]; then
		run 1 "$gpuvm" show -o /dev/full "$f"
		has "$tmp/err" 'cannot write the output'
	fi
}

# Every file the replay tests accept draws well: top of the address space,
# a reserved region at either end, empty spaces.
case_edge_inputs()
{
	n=0
	for f in "$src"/tests/replay/*.in; do
		[ -f "${f%.in}.err" ] && continue
		for w in 600 1200; do
			run 0 "$gpuvm" show --width "$w" "$f"
			cp "$tmp/out" "$tmp/a.svg"
			svg "$tmp/a.svg"
			# Without a detail strip, one rectangle per mapping.
			if [ "$(count class=detail)" -eq 0 ]; then
				want_count class=map "$(mappings "$f")"
			fi
			run 0 "$gpuvm" show --width "$w" --mode ops "$f"
			same "$tmp/a.svg" "$tmp/out"
		done
		n=$((n + 1))
	done
	[ "$n" -gt 20 ] || fail "only $n inputs found"
	echo "$n inputs drawn"
}

case $case in
quickstart) case_quickstart ;;
small) case_small ;;
dense) case_dense ;;
range) case_range ;;
deterministic) case_deterministic ;;
escape) case_escape ;;
file-errors) case_file_errors ;;
cli) case_cli ;;
edge-inputs) case_edge_inputs ;;
*)
	echo "unknown case '$case'" >&2
	exit 99
	;;
esac
exit $status
