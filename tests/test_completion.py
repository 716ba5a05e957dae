"""Shell completion: the committed scripts match the app, and real requests give candidates."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mltools.cli.completion import FILES, completion_script
from tests.conftest import REPO, mltools_env, usage_error

sys.path.insert(0, str(REPO / "scripts"))
from gen_completions import generate


def test_committed_scripts_have_not_drifted(tmp_path: Path) -> None:
    for path in generate(tmp_path):
        committed = REPO / "completions" / path.name
        assert committed.exists(), f"completions/{path.name} is missing: run gen_completions.py"
        assert committed.read_text() == path.read_text(), (
            f"completions/{path.name} is stale: run python scripts/gen_completions.py"
        )


def test_completion_command_prints_the_same_scripts(cli) -> None:
    for shell, name in FILES.items():
        result = cli("completion", shell)
        assert result.exit_code == 0
        assert result.stdout == (REPO / "completions" / name).read_text()
    usage_error(cli("completion", "tcsh"), "'tcsh' is not one of 'bash', 'zsh', 'fish'")


def test_zsh_script_keeps_compdef_first() -> None:
    assert completion_script("zsh").startswith("#compdef mltools\n")


@pytest.fixture
def shim(tmp_path: Path) -> dict[str, str]:
    """A `mltools` executable on PATH that runs this checkout (what `pip install` gives)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "mltools"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m mltools "$@"\n')
    exe.chmod(0o755)
    env = mltools_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


def bash_complete(env: dict[str, str], *words: str) -> list[str]:
    """Source completions/mltools.bash in a real bash and press TAB after ``words``."""
    words_array = " ".join(f"'{w}'" for w in words)
    script = (
        f"source '{REPO / 'completions' / 'mltools.bash'}'\n"
        f"COMP_WORDS=({words_array}); COMP_CWORD={len(words) - 1}\n"
        "_mltools_completion mltools\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    out = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return [line for line in out.stdout.splitlines() if line]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_subcommands(shim: dict[str, str]) -> None:
    candidates = bash_complete(shim, "mltools", "c")
    assert "cpu" in candidates
    assert {"ckpt", "completion"} <= set(candidates)
    assert all(c.startswith("c") for c in candidates)
    assert "gpu" in bash_complete(shim, "mltools", "")


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_options_and_choices(shim: dict[str, str]) -> None:
    options = bash_complete(shim, "mltools", "cpu", "--")
    assert {"--interval", "--json", "--watch", "--gpus"} <= set(options)
    assert bash_complete(shim, "mltools", "completion", "")[:3] == ["bash", "zsh", "fish"]


def protocol_complete(shell: str, line: str) -> str:
    env = mltools_env({"_MLTOOLS_COMPLETE": f"complete_{shell}", "_TYPER_COMPLETE_ARGS": line})
    if shell == "fish":
        env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    out = subprocess.run(
        [sys.executable, "-m", "mltools"], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_zsh_protocol_offers_options() -> None:
    out = protocol_complete("zsh", "mltools cpu --")
    assert '"--interval"' in out and '"--json"' in out


def test_fish_protocol_offers_subcommands() -> None:
    out = protocol_complete("fish", "mltools c")
    names = {line.split("\t")[0] for line in out.splitlines()}
    assert "cpu" in names


def fish_complete(env: dict[str, str], line: str) -> list[str]:
    """Source completions/mltools.fish in a real fish and ask what TAB offers after ``line``."""
    script = f"source '{REPO / 'completions' / 'mltools.fish'}'; complete --do-complete '{line}'"
    out = subprocess.run(
        ["fish", "--no-config", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return [row.split("\t")[0] for row in out.stdout.splitlines() if row]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_subcommands_options_and_choices(shim: dict[str, str]) -> None:
    assert fish_complete(shim, "mltools gp") == ["gpu"]
    assert {"pick", "run", "topo", "kill"} <= set(fish_complete(shim, "mltools gpu "))
    assert "--interval" in fish_complete(shim, "mltools cpu --")
    assert fish_complete(shim, "mltools completion ") == ["bash", "fish", "zsh"]  # fish sorts
    assert "nccl-debug" in fish_complete(shim, "mltools ddp-doctor env ")


def test_completion_path_imports_nothing_heavy() -> None:
    code = (
        "import os, sys, runpy\n"
        "os.environ.update({'_MLTOOLS_COMPLETE': 'complete_bash', 'COMP_WORDS': 'mltools c',"
        " 'COMP_CWORD': '1'})\n"
        "try:\n"
        "    runpy.run_module('mltools', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = {'torch', 'pandas', 'numpy', 'pynvml', 'magic', 'psutil', 'rich', 'pydantic'}\n"
        "sys.stderr.write(repr(sorted(heavy & set(sys.modules))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=mltools_env(), timeout=60
    )
    assert out.stderr == "[]"
    assert "cpu" in out.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_values(shim: dict[str, str]) -> None:
    presets = bash_complete(shim, "mltools", "ddp-doctor", "env", "")
    assert {"nccl-debug", "hang", "p2p-off", "ib-off", "fail-fast"} <= set(presets)
    assert bash_complete(shim, "mltools", "ddp-doctor", "env", "nc") == ["nccl-debug"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_readme_bash_instructions_work_without_bash_completion(
    shim: dict[str, str], tmp_path: Path
) -> None:
    """Run the README's bash lines in a fresh HOME, then TAB in an interactive bash that
    reads only that ~/.bashrc (no /etc/bash.bashrc, so no bash-completion package)."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- section: completion -->", 1)[1].split("```bash\n", 1)[1]
    block = block.split("\n```", 1)[0]
    bash_part = block.split("# bash", 1)[1].split("\n# zsh", 1)[0]
    lines = [ln for ln in bash_part.splitlines()[1:] if ln and not ln.startswith("#")]
    assert lines, "the README's bash completion lines are gone"
    home = tmp_path / "home"
    home.mkdir()
    env = {**shim, "HOME": str(home)}
    subprocess.run(
        ["bash", "--norc", "--noprofile", "-e", "-c", "\n".join(lines)],
        env=env,
        check=True,
        timeout=60,
    )
    probe = (
        "type _init_completion >/dev/null 2>&1 && echo 'bash-completion is loaded'\n"
        "spec=$(complete -p mltools) || exit 3\n"
        'func=$(printf "%s" "$spec" | sed -n "s/.*-F \\([^ ]*\\).*/\\1/p")\n'
        "COMP_WORDS=(mltools ck); COMP_CWORD=1\n"
        '"$func" mltools\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(
        ["bash", "--rcfile", str(home / ".bashrc"), "-i", "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert "bash-completion is loaded" not in out.stdout
    assert out.stdout.split() == ["ckpt"]
