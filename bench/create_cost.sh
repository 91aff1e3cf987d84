#!/usr/bin/env bash
# What a deletion does to the next creates on this disk (docs/benchmarks.md,
# "The kernel side"). On ext4 without a journal the inode allocator skips
# every free inode whose deletion time is at least one second and less than
# 60 s old (360 s while its inode-table block is still dirty), probing them
# one by one, from the start of the group, on every create (fs/ext4/ialloc.c
# find_inode_bit / recently_deleted). This script shows it:
#
#   1. the cost of a mkdir now, before this script deleted anything (other
#      processes' deletions are not under its control: the line says so),
#      and on /dev/shm (tmpfs: no such scan) as a control;
#   2. it creates N directories (what a workspace tree is mostly made of;
#      VICTIMS=files for empty files), deletes them, writes the deletion
#      back (sync: the 60 s rule, not 360 s) and measures the cost of a
#      mkdir at the seconds given in TIMES after the deletion.
#
#   bash bench/create_cost.sh [N] [TIMES]     N inodes deleted (default 600),
#                                             TIMES (default "1 5 15 30 45 55 65 75")
# env: PROBES (mkdirs per measurement, default 300), VICTIMS (dirs|files),
#      NOSYNC=1 (no sync after the deletion: the kernel's flusher writes the
#      inode table back on its own, after vm.dirty_expire_centisecs),
#      DIR (where, default /tmp: the disk the benchmarks use),
#      LOOP=1 (root, needs mkfs.ext4 and loop devices): instead of DIR, two
#      fresh 256 MB ext4 images mounted on loop devices, one without and one
#      with a journal -- the same experiment with no other process on the
#      file system, so the figures are the kernel's alone (LOOP_FS picks:
#      "nojournal journal" by default).
# Each line: seconds since the deletion, then median / p10 / p90 / mean µs
# per mkdir over PROBES mkdirs (build/bench/create_cost). The probes' own
# directories are new inodes, removed only at the very end.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
N=${1:-600}
TIMES=${2:-1 5 15 30 45 55 65 75}
PROBES=${PROBES:-300}
VICTIMS=${VICTIMS:-dirs}
case $VICTIMS in dirs) vmode="mkdir" ;; files) vmode="files" ;; *) echo "create_cost.sh: VICTIMS is dirs or files" >&2; exit 2 ;; esac
bin=$root/build/bench/create_cost
mkdir -p "$root/build/bench"
if [ ! -x "$bin" ] || [ "$root/bench/create_cost.c" -nt "$bin" ]; then
	"${CC:-cc}" -std=c11 -O2 -Wall -Wextra -Werror -o "$bin" "$root/bench/create_cost.c" || exit 2
fi
tmp=$(mktemp -d "${DIR:-/tmp}/wl-create-cost.XXXXXX") || exit 2
shm=""
mounts=()
cleanup() {
	local m
	for m in ${mounts[@]+"${mounts[@]}"}; do umount "$m"; done
	rm -rf "$tmp" ${shm:+"$shm"}
}
trap cleanup EXIT

k=0
probe() { # LABEL PARENT-DIR
	local med p10 p90 mean
	k=$((k + 1))
	read -r _ _ med p10 p90 mean < <("$bin" mkdir "$2/p$k" "$PROBES")
	printf '  %-38s median %7s µs  p10 %7s  p90 %7s  mean %7s\n' "$1" "$med" "$p10" "$p90" "$mean"
}
describe() { # DIR -> "device (type, journal or not)"
	local dev fstype journal="" jt
	dev=$(findmnt -no SOURCE -T "$1" 2>/dev/null)
	fstype=$(findmnt -no FSTYPE -T "$1" 2>/dev/null)
	if [ "$fstype" = ext4 ] && [ -r "/sys/fs/ext4/${dev##*/}/journal_task" ]; then
		jt=$(cat "/sys/fs/ext4/${dev##*/}/journal_task")
		if [ "$jt" = "<none>" ]; then journal=", no journal"; else journal=", journal"; fi
	fi
	echo "$dev ($fstype$journal)"
}
# experiment DIR: delete N inodes in DIR, then probe at TIMES
experiment() {
	local d=$1 t0 t
	echo "$d on $(describe "$d"):"
	probe "before (this script deleted nothing)" "$d"
	"$bin" "$vmode" "$d/victims" "$N" >/dev/null || exit 1
	rm -rf "$d/victims"
	[ -n "${NOSYNC:-}" ] || sync
	t0=$(date +%s%N)
	for t in $TIMES; do
		while [ $((($(date +%s%N) - t0) / 1000000)) -lt $((t * 1000)) ]; do sleep 0.1; done
		probe "$t s after deleting $N $VICTIMS" "$d"
	done
}

echo "create_cost: kernel $(uname -r), $PROBES mkdirs per line, load $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	shm=$(mktemp -d /dev/shm/wl-create-cost.XXXXXX)
	probe "tmpfs /dev/shm (control)" "$shm"
fi
if [ -n "${LOOP:-}" ]; then
	command -v mkfs.ext4 >/dev/null || { echo "create_cost.sh: LOOP=1 needs mkfs.ext4 (e2fsprogs)" >&2; exit 2; }
	for fs in ${LOOP_FS:-nojournal journal}; do
		opt=-O ; feat=^has_journal
		[ "$fs" = journal ] && feat=has_journal
		truncate -s 256M "$tmp/$fs.img" && mkfs.ext4 -q -F "$opt" "$feat" "$tmp/$fs.img" || exit 2
		mkdir -p "$tmp/$fs"
		mount -o loop "$tmp/$fs.img" "$tmp/$fs" || { echo "create_cost.sh: cannot mount a loop device (root?)" >&2; exit 2; }
		mounts=("$tmp/$fs" ${mounts[@]+"${mounts[@]}"})
		mkdir "$tmp/$fs/t"
		experiment "$tmp/$fs/t"
	done
else
	experiment "$tmp"
fi
