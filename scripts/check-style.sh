#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libgpuvm authors
#
# Style gate: every C file is formatted with the project's .clang-format,
# and every file of the project carries an SPDX licence line (byte-exact test
# data excepted: a header would change what it means).
set -eu
cd "$(dirname "$0")/.."
if [ -d .git ] && command -v git >/dev/null; then
	files=$(git ls-files)
else
	# Outside a checkout: the project's own folders, no build trees.
	files=$(find include src tests tools bench examples scripts .ci \
		meson.build meson_options.txt -type f 2>/dev/null)
fi
status=0

cfiles=$(printf '%s\n' $files | grep -E '\.(c|h)$' || true)
if command -v clang-format >/dev/null; then
	for f in $cfiles; do
		if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
			echo "not formatted: $f (run clang-format -i $f)"
			status=1
		fi
	done
else
	echo "clang-format not found: formatting not checked"
fi

for f in $files; do
	case "$f" in
	tests/replay/*.in | tests/replay/*.out | tests/replay/*.err) continue ;;
	LICENSE) continue ;;
	esac
	if ! head -n 5 "$f" | grep -q 'SPDX-License-Identifier: MIT'; then
		echo "no SPDX line: $f"
		status=1
	fi
done
[ $status -eq 0 ] && echo "style: $(printf '%s\n' $cfiles | wc -l) C files formatted, SPDX lines present"
exit $status
