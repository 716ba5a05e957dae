"""Child tools' failures in their own words plus ours (mltools._child_failure).

The stderr texts below are what OpenSSH 9.2 and rsync 3.2 printed on this machine against
a real sshd on loopback (the same cases run end to end in tests/test_files_sync.py).
"""

from __future__ import annotations

import pytest

from mltools._child_failure import rsync_failure, ssh_failure, sshpass_failure

UNKNOWN_KEY = (
    "No ED25519 host key is known for [127.0.0.1]:41173 and you have requested strict checking.\n"
    "Host key verification failed.\n"
    "rsync: connection unexpectedly closed (0 bytes received so far) [sender]\n"
    "rsync error: unexplained error (code 255) at io.c(285) [sender=3.5.0]\n"
)
BANNER = (
    "Connection timed out during banner exchange\n"
    "Connection to 127.0.0.1 port 45613 timed out\n"
    "rsync: connection unexpectedly closed (0 bytes received so far) [sender]\n"
    "rsync error: unexplained error (code 255) at io.c(285) [sender=3.5.0]\n"
)
CHANGED = (
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
    "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n"
    "Offending ED25519 key in /tmp/kh:1\n"
    "  remove with:\n"
    '  ssh-keygen -f "/tmp/kh" -R "[127.0.0.1]:41173"\n'
    "Host key for [127.0.0.1]:41173 has changed and you have requested strict checking.\n"
    "Host key verification failed.\n"
    "rsync: connection unexpectedly closed (0 bytes received so far) [sender]\n"
    "rsync error: unexplained error (code 255) at io.c(285) [sender=3.5.0]\n"
)
DENIED = (
    "Warning: Permanently added '[127.0.0.1]:41173' (ED25519) to the list of known hosts.\n"
    "root@127.0.0.1: Permission denied (publickey,password).\n"
    "rsync: connection unexpectedly closed (0 bytes received so far) [sender]\n"
    "rsync error: unexplained error (code 255) at io.c(285) [sender=3.5.0]\n"
)
# sshpass met ssh's "authenticity of host" prompt (on its pty, not stderr) and exited 6
SSHPASS_UNKNOWN = "rsync error: unexplained error (code 255) at rsync.c(874) [sender=3.5.0]\n"


@pytest.mark.parametrize(
    ("stderr", "words", "meaning"),
    [
        (UNKNOWN_KEY, "ssh: Host key verification failed.", "not in known_hosts"),
        (BANNER, "ssh: Connection timed out during banner exchange", "no ssh server answered"),
        (CHANGED, "ssh: WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!", "key differs"),
        (DENIED, "ssh: root@127.0.0.1: Permission denied (publickey,password).", "refused"),
        (
            "ssh: connect to host 127.0.0.1 port 1: Connection refused\n",
            "ssh: connect to host 127.0.0.1 port 1: Connection refused",
            "nothing accepts connections",
        ),
        (
            "ssh: Could not resolve hostname nohost.invalid: Name or service not known\n",
            "ssh: Could not resolve hostname nohost.invalid: Name or service not known",
            "does not resolve",
        ),
        (
            "kex_exchange_identification: read: Connection reset by peer\n",
            "ssh: kex_exchange_identification: read: Connection reset by peer",
            "closed the connection during the handshake",
        ),
        (
            "Received disconnect from 10.0.0.5 port 22:2: Too many authentication failures\n",
            "ssh: Received disconnect from 10.0.0.5 port 22:2: Too many authentication failures",
            "more keys",
        ),
    ],
)
def test_ssh_words_reach_the_user(stderr, words, meaning):
    failure = ssh_failure(stderr, host="gpu1")
    assert failure is not None
    assert failure.words == words
    assert meaning in failure.meaning
    assert failure.line().startswith(words)


def test_changed_key_hint_quotes_sshs_own_removal_command():
    failure = ssh_failure(CHANGED, host="gpu1")
    assert 'ssh-keygen -f "/tmp/kh" -R "[127.0.0.1]:41173"' in failure.hint


def test_password_offered_means_use_a_password_unless_one_was_used():
    assert "--password-file" in ssh_failure(DENIED).hint
    assert ssh_failure(DENIED, used_password=True).meaning == "the password was refused"


def test_no_ssh_words_no_ssh_failure():
    assert ssh_failure('rsync: change_dir "/x" failed: No such file or directory (2)\n') is None
    assert ssh_failure("") is None


def test_sshpass_six_is_not_rsyncs_six():
    """sshpass' exit 6 (unknown host key) used to be read as rsync's 6 ("the rsync daemon
    could not write its log")."""
    failure = rsync_failure(6, SSHPASS_UNKNOWN, used_password=True, host="me@gpu1")
    assert failure.tool == "sshpass"
    assert "key is not known" in failure.meaning
    assert "daemon" not in failure.line()
    assert "ssh me@gpu1" in failure.hint


def test_rsyncs_own_code_is_kept_when_it_printed_it():
    text = "rsync error: error starting client-server protocol (code 5) at main.c(1863)\n"
    assert sshpass_failure(5, text) is None
    failure = rsync_failure(5, text, used_password=True)
    assert failure.tool == "rsync" and "client-server protocol" in failure.meaning


def test_rsync_words_first_then_meaning():
    text = (
        'rsync: [sender] change_dir "/nope" failed: No such file or directory (2)\n'
        "rsync error: some files/attrs were not transferred (see previous errors) (code 23)\n"
    )
    failure = rsync_failure(23, text)
    assert failure.words.startswith('rsync: [sender] change_dir "/nope" failed')
    assert "partial transfer" in failure.meaning


def test_every_case_is_one_line():
    for text in (UNKNOWN_KEY, BANNER, CHANGED, DENIED, SSHPASS_UNKNOWN):
        for code in (255, 12, 6, 5):
            assert "\n" not in rsync_failure(code, text, used_password=code in (5, 6)).line()
