#!/bin/bash
# Every command and option that the --help outputs print is known to both completions.
# Usage: completion_options.sh VBDCTL BASH_COMPLETION ZSH_COMPLETION
set -euo pipefail
vbdctl=$1
here=$(dirname "$0")
shift
fail=0
words=$(bash "$here/help_words.sh" "$vbdctl")
for file in "$@"; do
    while read -r kind rest; do
        word=${rest##* }
        # as a word of its own: not a prefix of a longer option or command
        if ! grep -qE -- "(^|[^A-Za-z0-9_-])$word([^A-Za-z0-9_-]|$)" "$file"; then
            echo "FAIL: $(basename "$file") does not know $kind '$rest'" >&2
            fail=1
        fi
    done <<<"$words"
done
[[ $fail == 0 ]] && echo "completion_options: ok"
exit $fail
