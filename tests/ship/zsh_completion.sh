#!/bin/bash
# Drives completions/_vbdctl in an interactive zsh on a pseudo-terminal (zsh/zpty): types a
# line, asks for the list of completions (^D), and checks that the expected values are
# listed. Skipped (77) without zsh.
# Usage: zsh_completion.sh VBDCTL COMPLETIONS_DIR WORK_DIR
set -uo pipefail
vbdctl=$1 completions=$2 work=$3
command -v zsh >/dev/null || { echo "zsh is not installed: skipped"; exit 77; }
rm -rf "$work"
mkdir -p "$work"
world=$work/world.state

cat >"$work/drive.zsh" <<'ZSH'
zmodload zsh/zpty || exit 77
setopt extendedglob
completions=$1 bindir=$2 world=$3
world_name=${world:t}
integer n=0 fail=0
zpty z zsh -f -i
zpty -w z "stty columns 1000; cd ${world:h}; PS1='> '; unset VBDCTL_HOST; fpath=($completions \$fpath); autoload -U compinit; compinit -u -D; path=($bindir \$path); echo RE''ADY"
zpty -r z out '*READY*'
# Until zle reads the terminal, the tty is in cooked mode and would take ^D as EOF: wait for
# the prompt to be drawn.
integer waited=0
while (( waited++ < 50 )); do
  sleep 0.1
  while zpty -r -t z l; do out+=$l; done
  [[ $out == *READY*'> '* ]] && break
done
sleep 0.3
# all_listed TEXT WORD...: TEXT has every WORD as a word of its own.
all_listed() {
  local text=$1 w; shift
  for w in "$@"; do
    [[ $text == *[[:space:]]${w}[[:space:]]* ]] || return 1
  done
}
# expect LINE WORD...: completing LINE lists every WORD.
expect() {
  local line=$1 chunk w; shift
  (( n++ ))
  local l; chunk=""
  zpty -w -n z "$line"$'\C-d'
  # zle lists asynchronously to us (vbdctl __complete runs in between): poll until every
  # expected word is there, for at most 10 s.
  integer tries=0
  local text
  while (( tries++ < 100 )); do
    sleep 0.1
    while zpty -r -t z l; do chunk+=$l; done
    text=" ${chunk//($'\e'\[[0-9;?]#[A-Za-z]|[^[:print:]])/ } "   # terminal controls to blanks
    all_listed "$text" "$@" && break
  done
  zpty -w -n z $'\C-u'
  sleep 0.1
  while zpty -r -t z l; do :; done
  chunk=$text
  for w in "$@"; do
    if [[ $chunk != *[[:space:]]${w}[[:space:]]* ]]; then
      print -r -- "FAIL: '$line' does not list '$w'" >&2
      print -r -- "$chunk" | cat -v >&2
      fail=1
      return
    fi
  done
  print -r -- "ok: '$line' lists $*"
}
expect "vbdctl " status list show check metrics watch unbind bind recover upgrade-backend history sim
expect "vbdctl --host sim:$world_name unbind " 1 2 3 4 web01 db01 legacy32 installer
expect "vbdctl --host sim:$world_name unbind 1 " xvda xvdb
expect "vbdctl --host sim:$world_name show 3 " xvda
expect "vbdctl --host sim:$world_name upgrade-backend --only 2:" xvda xvdb
expect "vbdctl --host sim:$world_name sim " init fault show-modules
expect "vbdctl --host sim:$world_name sim fault corrupt-ring 1 " xvda xvdb
zpty -d z
exit $fail
ZSH
exec timeout 60 zsh -f "$work/drive.zsh" "$completions" "$(dirname "$vbdctl")" "$world"
