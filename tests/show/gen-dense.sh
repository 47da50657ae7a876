#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libgpuvm authors
#
# Writes a replay file with many mappings to standard output:
#
#   gen-dense.sh N SEED
#
# N disjoint map requests of 1 to 16 pages over 12 buffer objects (one in
# thirteen is sparse), in clusters separated by large holes, in an 8 GiB VA
# space whose top 256 MiB is reserved. The same N and SEED give the same
# file with any awk: the generator is a Lehmer generator in integers that
# stay below 2^53, and numbers are printed in decimal with %.0f.
set -eu
n=${1:?usage: gen-dense.sh N SEED}
seed=${2:?usage: gen-dense.sh N SEED}

awk -v n="$n" -v seed="$seed" '
function next_rand() {
	state = (state * 48271) % 2147483647
	return state
}
BEGIN {
	state = seed % 2147483646 + 1
	page = 4096
	printf "# %d mappings, seed %d\n", n, seed
	printf "vm 0x0 0x200000000 0x1f0000000 0x10000000\n"
	for (b = 0; b < 12; b++)
		printf "bo obj%d 0x400000%s\n", b, b % 4 == 3 ? " ext" : ""
	addr = 16 * 1048576
	for (i = 0; i < n; i++) {
		# Now and then a large hole, so that density varies.
		if (next_rand() % 4000 == 0)
			addr += (next_rand() % 64 + 1) * 4194304
		addr += (next_rand() % 4) * page * (next_rand() % 3 == 0)
		size = (next_rand() % 16 + 1) * page
		if (next_rand() % 13 == 0)
			printf "map %.0f %.0f - 0\n", addr, size
		else
			printf "map %.0f %.0f obj%d %.0f\n", addr, size,
				next_rand() % 12, (next_rand() % 512) * page
		addr += size
	}
}'
