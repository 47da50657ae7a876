#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libgpuvm authors
#
# The ABI is exactly the symbols listed in symbols.txt: the shared object
# must export all of them and nothing else, and every GPUVM_EXPORT in the
# public headers must be listed. Catches accidental exports and forgotten
# list updates alike.
set -eu
lib=$1
list=$2
incdir=$3
nm=${NM:-nm}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$nm" -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVWi]$/ { print $3 }' |
	sed 's/@.*//' | grep -v -e '^_init$' -e '^_fini$' -e '^_end$' \
	-e '^_edata$' -e '^__bss_start$' | sort -u >"$tmp/exported"
grep -v -e '^#' -e '^$' "$list" | sort -u >"$tmp/listed"
# Declarations: GPUVM_EXPORT ... name( possibly after a line break.
# compiler.h defines the macro itself and is skipped.
ls "$incdir"/*.h | grep -v '/compiler\.h$' | xargs cat | tr '\n' ' ' | grep -o 'GPUVM_EXPORT[^;(]*(' |
	sed -e 's/($//' -e 's/.*[ *]//' | sort -u >"$tmp/declared"

status=0
if ! cmp -s "$tmp/exported" "$tmp/listed"; then
	echo "exported symbols differ from $list (< exported, > listed):"
	diff "$tmp/exported" "$tmp/listed" || true
	status=1
fi
if ! cmp -s "$tmp/declared" "$tmp/listed"; then
	echo "GPUVM_EXPORT declarations differ from $list (< declared, > listed):"
	diff "$tmp/declared" "$tmp/listed" || true
	status=1
fi
bad=$(grep -v -e '^gpuvm_' -e '^gpuva_' "$tmp/exported" || true)
if [ -n "$bad" ]; then
	echo "exported symbols without the gpuvm_/gpuva_ prefix: $bad"
	status=1
fi
[ $status -eq 0 ] && echo "$(wc -l <"$tmp/exported") symbols exported, all listed"
exit $status
