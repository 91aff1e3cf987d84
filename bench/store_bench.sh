#!/usr/bin/env bash
# History store benchmark (SPEC §11): write cost per iteration, and
# `waitloop history` over 10 000 runs. Needs build/waitloop and
# build/libwaitloop.a (make build/waitloop). Usage: bash bench/store_bench.sh
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
make --no-print-directory -s build/waitloop build/libwaitloop.a
mkdir -p build/bench
pkgs=(yaml-0.1 libcjson libgit2 sqlite3 libpcre2-8)
read -ra cflags <<<"$(pkg-config --cflags "${pkgs[@]}")"
read -ra libs <<<"$(pkg-config --libs "${pkgs[@]}")"
cc -std=c11 -D_GNU_SOURCE -O2 -Isrc "${cflags[@]}" -o build/bench/store_bench \
	bench/store_bench.c build/libwaitloop.a "${libs[@]}" -lm
# Under bench/run.sh (BENCH_TMP) the temp dir is left for run.sh to remove.
tmp=$(mktemp -d "${BENCH_TMP:-/tmp}/wl-store-bench.XXXXXX")
[ -n "${BENCH_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT

echo "== history write per iteration (file on $(df -P "$tmp" | awk 'NR==2 {print $1}'))"
build/bench/store_bench write "$tmp/write.db" 1000

echo "== waitloop history over 10000 runs"
build/bench/store_bench populate "$tmp/runs.db" 10000
for args in "" "--limit 0" "--json --limit 0"; do
	times=()
	for _ in 1 2 3 4 5; do
		s=$(date +%s%N)
		# shellcheck disable=SC2086
		build/waitloop history --db "$tmp/runs.db" $args >/dev/null
		e=$(date +%s%N)
		times+=($(((e - s) / 1000)))
	done
	med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
	printf '  history %-18s median %6.1f ms (5 runs)\n' "$args" "$(echo "$med / 1000" | bc -l)"
done
