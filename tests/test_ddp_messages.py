"""Exception messages quoted without their class (mltools.ddp.messages, scripts/gen_ddp_messages.py).

The quoted lines are verbatim from public write-ups (tests/fixtures/ddp_logs_real, [fresh29b]);
the messages file is built from torch's, Ray's and the training stacks' own sources.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mltools.ddp.logscan import QUOTE_HEAD_BYTES, QUOTE_TAIL_BYTES, analyze_log, analyze_text
from mltools.ddp.messages import LITERAL_MIN, MESSAGES_FILE, quoted_message

ROOT = Path(__file__).resolve().parent.parent

QUOTES = [
    # (line, library): one-line pastes from write-ups, no class, no traceback
    ("Expected all tensors to be on the same device, but found at least two devices, "
     "cuda:0 and cpu!", "torch"),
    ("The size of tensor a (256) must match the size of tensor b (1024)", "torch"),  # cut
    ("Unexpected error occurred: The actor 2c5251641e72297b4e3f4d7f01000000 is unavailable",
     "Ray"),  # after the application's own words, cut inside the message
    ("The global train batch size (7 x 1) must be evenly divisible by the number of "
     "generations per prompt (8)", "TRL"),
    ("Default process group has not been initialized, please make sure to call "
     "init_process_group.", "torch"),
    # Ascend's stacks ([fresh39], [fresh36]): MindSpore's Python, vLLM Ascend's
    ("np_tensor can not be split by strategy!", "MindSpore"),
    ("Failed to transfer KV cache for request chatcmpl-xxxxxxxx: Mooncake transfer failed, "
     "ret: -1", "vLLM Ascend"),
    ("Failed to prepare HCCL status save directory. Please verify the path is accessible and "
     "writable.", "torch_npu"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "library"), QUOTES)
def test_a_message_a_library_raises_is_named_with_that_library(line, library):
    found = quoted_message(line)
    assert found is not None and found[0] == library


@pytest.mark.parametrize(
    "line",
    [
        # prose about the same things, in other words
        "I think the tensors should all be on the same device, but I am not sure",
        "The size of the tensor is 256",
        # a message's start with nothing of the rest: too little of it to name it
        "The size of tensor a is fine",
        # the same words as a warning, or at a logger's info level
        "UserWarning: Expected all tensors to be on the same device, but found at least two "
        "devices, cuda:0 and cpu!",
        "[W1207 03:33:44.625 socket.cpp:697] Expected all tensors to be on the same device, "
        "but found at least two devices, cuda:0 and cpu!",
        "2024-01-01 10:00:00 INFO Default process group has not been initialized, please make "
        "sure to call init_process_group.",
        # a message's start, then a long text that is not the rest of it
        "The size of tensor a (256) is what we want for the whole model and every layer of it, "
        "with nothing else to say",
        "",
    ],
)
def test_prose_warnings_and_fragments_are_no_quoted_message(line):
    assert quoted_message(line) is None


def test_the_messages_file_is_sorted_unique_and_each_message_names_itself():
    lines = MESSAGES_FILE.read_text(encoding="utf-8").splitlines()
    rows = [r for r in lines if r[:1] != "#"]
    assert lines[len(lines) - len(rows) :] == rows  # the comments are the header, all of it
    assert len(rows) > 10000
    assert rows == sorted(set(rows))  # the reader binary-searches them
    libraries = set()
    for row in rows:
        *pieces, library = row.split("\t")
        libraries.add(library)
        assert pieces and pieces[0] == pieces[0].lstrip() and len(pieces[0].strip()) >= 8, row
        assert len("".join(pieces).strip()) >= LITERAL_MIN, row
    assert {
        "torch",
        "ray",
        "transformers",
        "deepspeed",
        "trl",
        "vllm",
        "sglang",
        "tgi",
    } <= libraries


def test_a_one_line_quote_is_a_rank_exception_not_clean():
    report = analyze_text(QUOTES[0][0] + "\n")
    assert [f.id for f in report.findings] == ["rank_exception"]
    finding = report.findings[0]
    assert finding.line == 1 and finding.evidence[0].text == QUOTES[0][0]
    assert "torch" in finding.cause and "quoted without its class" in finding.cause


def test_a_launcher_prefix_gives_the_rank():
    report = analyze_text("[rank3]: " + QUOTES[1][0] + "\n")
    assert report.findings[0].id == "rank_exception" and report.findings[0].rank == 3


def test_a_failure_the_log_names_comes_first_and_the_quote_adds_nothing():
    text = (
        QUOTES[0][0] + "\n"
        "Traceback (most recent call last):\n"
        '  File "train.py", line 3, in <module>\n'
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n"
    )
    assert [f.id for f in analyze_text(text).findings] == ["cuda_oom"]


def test_a_clean_log_with_no_quote_stays_clean():
    text = "step 1 loss 0.5\nstep 2 loss 0.4\nThe size of the model is 7B\n"
    assert analyze_text(text).findings == []


@pytest.mark.parametrize("use_grep", [True, False])
def test_a_long_log_is_read_at_its_end_with_the_right_line_number(tmp_path, use_grep):
    """Past the head window, a message in the tail window is found and numbered from the end."""
    filler = "I1207 12:00:00.000 1 train.py:10] step %d loss 0.5 and all is well\n"
    n = 2 * (QUOTE_HEAD_BYTES + QUOTE_TAIL_BYTES) // len(filler % 0)
    log = tmp_path / "train.log"
    log.write_text("".join(filler % i for i in range(n)) + "[rank1]: " + QUOTES[3][0] + "\n")
    report = analyze_log(log, use_grep=use_grep)
    assert [f.id for f in report.findings] == ["rank_exception"]
    assert report.findings[0].line == n + 1 and report.findings[0].rank == 1
    # the same message in the middle of the log, outside both windows, is not looked for
    middle = tmp_path / "middle.log"
    lines = [filler % i for i in range(n)]
    lines.insert(n // 2, QUOTES[3][0] + "\n")
    middle.write_text("".join(lines))
    assert analyze_log(middle, use_grep=use_grep).findings == []


def test_the_generator_reads_checks_throws_streams_and_raises(tmp_path):
    cpp = tmp_path / "src" / "aten"
    cpp.mkdir(parents=True)
    (cpp / "Check.cpp").write_text(
        'TORCH_CHECK(a == b, "The size of tensor a (", a, ") must match the size of "\n'
        '            "tensor b (", b, ") at non-singleton dimension ", i);\n'
        'AT_ERROR("Only one of the sizes may be given as minus one here");\n'
        "std::ostringstream err;\n"
        'err << "NCCL communicator was aborted on rank " << rank << " for a long reason";\n'
        "throw std::runtime_error(err.str());\n"
        'TORCH_WARN("this is a warning and never an exception message at all");\n'
    )
    (cpp / "test").mkdir()
    (cpp / "test" / "Skipped.cpp").write_text('AT_ERROR("a test file message that is skipped");')
    py = tmp_path / "pkg"
    py.mkdir()
    (py / "errors.py").write_text(
        "class ActorUnavailableError(Exception):\n"
        "    def __init__(self, actor_id, error_message):\n"
        '        msg = f"The actor {actor_id} is unavailable: {error_message}. The task may"\n'
        "        super().__init__(actor_id, msg)\n"
        "def check(n):\n"
        "    if n:\n"
        '        raise ValueError("The global batch size (%d) must be divisible" % n)\n'
        '    raise RuntimeWarning("a warning class is never read as an error message")\n'
        "def shard(size, n):\n"
        '    assert size % n == 0, f"The chosen size {size} is not compatible with sharding"\n'
    )
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_ddp_messages.py"),
         "--cpp", f"torch={tmp_path / 'src'}", "--py", f"lib={py}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = [r.split("\t") for r in out.splitlines() if not r.startswith("#")]
    assert rows == [
        ["NCCL communicator was aborted on rank ", " for a long reason", "torch"],
        ["Only one of the sizes may be given as minus one here", "torch"],
        ["The actor ", " is unavailable: ", ". The task may", "lib"],
        ["The chosen size ", " is not compatible with sharding", "lib"],
        ["The global batch size (", ") must be divisible", "lib"],
        ["The size of tensor a (", ") must match the size of tensor b (",
         ") at non-singleton dimension ", "torch"],
    ]  # fmt: skip


def test_every_row_is_found_by_the_binary_search_first_last_and_a_sample():
    rows = [r for r in MESSAGES_FILE.read_text(encoding="utf-8").splitlines() if r[:1] != "#"]
    for row in [rows[0], rows[-1], *rows[:: len(rows) // 50]]:
        line = "7".join(row.split("\t")[:-1])  # each value a digit
        found = quoted_message(line)
        assert found is not None and found[1] == 0, row


def test_a_message_after_a_value_and_cut_inside_its_words_is_read():
    """DTensor's "{op}: got mixed torch.Tensor and DTensor, ..." as a terminal wrapped it
    ([fresh27] pytorch-pull-171779): the value before it gone, the line cut inside the words."""
    line = "  got mixed torch.Tensor and DTensor, need to convert all torch.Tensor"
    assert quoted_message(line) == ("torch", 2)
    assert quoted_message("aten.add.Tensor: " + line.strip()) == ("torch", 17)
