#!/bin/sh
# SPDX-License-Identifier: MIT
# Copyright (c) 2026 The libgpuvm authors
#
# Installs the Debian packages libgpuvm needs to build, test and benchmark.
# Run as root on Debian 12 (bookworm) or later.
set -eu
export DEBIAN_FRONTEND=noninteractive
pkgs="meson ninja-build gcc pkg-config libcmocka-dev libjudy-dev
libglib2.0-dev liburcu-dev clang clang-format libclang-rt-14-dev spin valgrind
git"
missing=""
for p in $pkgs; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
