#!/bin/bash
# Prints what `vbdctl --help` and every `vbdctl COMMAND... --help` offer, one per line:
#   command PATH        e.g. "command list", "command sim init"
#   option PATH OPT     e.g. "option upgrade-backend --dry-run", "option - --host" (global)
# Commands are found by walking the "Subcommands:" sections, so new ones are picked up.
# Usage: help_words.sh VBDCTL
set -euo pipefail
vbdctl=$1

walk() {
    local path=("$@") help section line names name
    help=$("$vbdctl" "${path[@]}" --help)
    section=""
    while IFS= read -r line; do
        case $line in
            Options:) section=options; continue ;;
            Subcommands:) section=subcommands; continue ;;
            Positionals:) section=""; continue ;;
            "") section=""; continue ;;
        esac
        [[ $line == "  "[!\ ]* ]] || continue
        read -r names _ <<<"$line"
        case $section in
            options)
                IFS=, read -ra opts <<<"$names"
                for name in "${opts[@]}"; do
                    echo "option ${path[*]:--} $name"
                done
                ;;
            subcommands)
                echo "command ${path[*]:+${path[*]} }$names"
                walk "${path[@]}" "$names"
                ;;
        esac
    done <<<"$help"
}
walk
