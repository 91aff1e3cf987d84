#!/bin/sh
# Turn files into a C table (embedded.h): name, bytes, length.  Used for the
# JSON Schemas (`waitloop schema`) and the built-in prompt templates.
set -eu
printf '#include "embedded.h"\n\n'
i=0
for f in "$@"; do
	printf 'static const unsigned char file_%d[] = {\n' "$i"
	od -An -v -tx1 "$f" | sed -e 's/  */ /g' -e 's/^ //' -e '/^$/d' -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'
	printf '0x00};\n'
	i=$((i + 1))
done
printf 'const struct embedded_file embedded_files[] = {\n'
i=0
for f in "$@"; do
	printf '\t{"%s", (const char *)file_%d, sizeof(file_%d) - 1},\n' "$f" "$i" "$i"
	i=$((i + 1))
done
printf '\t{0, 0, 0}\n};\n'
