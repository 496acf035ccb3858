#!/bin/bash
# Every command and option that `vbdctl --help` and each `vbdctl COMMAND --help` print is
# documented, in bold, in man/vbdctl.8.scd; the built page renders with man -l.
# Usage: man_page.sh VBDCTL MAN_SOURCE [BUILT_PAGE]
set -euo pipefail
vbdctl=$1 scd=$2 page=${3-}
here=$(dirname "$0")
fail=0
words=$(bash "$here/help_words.sh" "$vbdctl")
[[ $(grep -c '^command ' <<<"$words") -ge 12 ]] || { echo "FAIL: help parsing found too few commands" >&2; exit 1; }

while read -r kind rest; do
    if [[ $kind == command ]]; then
        name=${rest##* }
        # "*list*", or "*sim init*" for a subcommand
        if ! grep -qE "\*([a-z-]+ )?$name\*" "$scd"; then
            echo "FAIL: command '$rest' is not documented (as *$name*) in $scd" >&2
            fail=1
        fi
    else
        opt=${rest##* } path=${rest% *}
        if ! grep -qF -- "*$opt*" "$scd"; then
            echo "FAIL: option $opt of '${path/#-/vbdctl}' is not documented (as *$opt*) in $scd" >&2
            fail=1
        fi
    fi
done <<<"$words"

for section in NAME SYNOPSIS DESCRIPTION COMMANDS HOSTS "JSON OUTPUT" "EXIT STATUS" FILES ENVIRONMENT EXAMPLES "SEE ALSO"; do
    grep -qx "# $section" "$scd" || { echo "FAIL: no $section section" >&2; fail=1; }
done
# The exit codes --help documents are the ones the page documents.
for code in $("$vbdctl" --help | sed -n '/^Exit status:/,/^$/s/^  \([0-9]\+\) .*/\1/p'); do
    grep -qx "\*$code\*" "$scd" || { echo "FAIL: exit status $code is not documented" >&2; fail=1; }
done

if [[ -n $page ]]; then
    [[ -f $page ]] || { echo "FAIL: $page was not built" >&2; exit 1; }
    out=$(MANWIDTH=80 man -l "$page" 2>"${TMPDIR:-/tmp}/vbdctl-man.$$.err")
    err=$(cat "${TMPDIR:-/tmp}/vbdctl-man.$$.err"); rm -f "${TMPDIR:-/tmp}/vbdctl-man.$$.err"
    head -n 5 <<<"$out"
    [[ -z $err ]] || { echo "FAIL: man -l $page complained: $err" >&2; fail=1; }
    grep -q '^NAME' <<<"$out" && grep -q 'vbdctl - unbind, rebind and upgrade' <<<"$out" ||
        { echo "FAIL: man -l $page did not render the NAME section" >&2; fail=1; }
    grep -q '^SEE ALSO' <<<"$out" || { echo "FAIL: rendered page has no SEE ALSO" >&2; fail=1; }
else
    echo "man page not built (no scdoc): checked the source only"
fi
[[ $fail == 0 ]] && echo "man_page: ok"
exit $fail
