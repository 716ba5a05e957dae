# Generated from the mltools app by scripts/gen_completions.py; do not edit.
complete --command mltools --no-files --arguments "(env _MLTOOLS_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=get-args _TYPER_COMPLETE_ARGS=(commandline -cp) mltools)" --condition "env _MLTOOLS_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=is-args _TYPER_COMPLETE_ARGS=(commandline -cp) mltools"
