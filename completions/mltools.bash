# Generated from the mltools app by scripts/gen_completions.py; do not edit.
_mltools_completion() {
    local IFS=$'
'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \
                   COMP_CWORD=$COMP_CWORD \
                   _MLTOOLS_COMPLETE=complete_bash $1 ) )
    return 0
}

complete -o default -F _mltools_completion mltools
