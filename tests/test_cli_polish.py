"""CLI polish: ``protoflow --version``, quiet handling of a closed pipe, and the progress ETA."""

from __future__ import annotations

import io
import subprocess
import sys
from importlib import metadata

import pytest

from protoflow import cli
from protoflow.progress import Progress, quiet


def test_version_lists_core_and_plugin_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"protoflow-core {metadata.version('protoflow-core')}"
    plugins = dict(line.split() for line in lines[1:])
    assert plugins["protoflow-som"] == metadata.version("protoflow-som")
    assert "protoflow-core" not in plugins and list(plugins) == sorted(plugins)


def _run_into_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with stdout a pipe whose reading end is closed before anything is written
    (what ``| head -1`` amounts to once head has its line)."""
    proc = subprocess.Popen([sys.executable, "-m", "protoflow.cli", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # nobody reads: the child's first flush gets EPIPE
    err = proc.stderr.read()
    proc.stderr.close()
    return subprocess.CompletedProcess(proc.args, proc.wait(timeout=120), "", err)


@pytest.mark.parametrize("args", [("plugins", "--json"), ("--version",)])
def test_a_closed_pipe_ends_quietly(args: tuple[str, ...]) -> None:
    done = _run_into_closed_pipe(*args)
    assert "Broken pipe" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "Exception ignored" not in done.stderr, done.stderr
    assert done.returncode in (0, cli.EXIT_BROKEN_PIPE)


def test_main_returns_141_when_stdout_breaks(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    class Broken(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Broken())
    assert cli.main(["plugins"]) == cli.EXIT_BROKEN_PIPE
    assert "Broken pipe" not in capsys.readouterr().err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_an_eta_from_the_mean_pace() -> None:
    now = [0.0]
    out = _Tty()
    with Progress(10, "work", stream=out, clock=lambda: now[0]) as bar:
        assert bar.eta() is None  # no pace yet
        now[0] = 4.0
        bar.update(2)  # 2 steps in 4 s: 8 steps left take 16 s
        assert bar.eta() == pytest.approx(16.0)
        assert out.getvalue().rstrip().endswith("2/10   4.0s eta 16.0s")
        now[0] = 100.0
        bar.update(3)  # 5 in 100 s: 5 left, 100 s
        assert "eta 1m40s" in out.getvalue()
        bar.update(5)
        assert bar.eta() == 0.0
    assert out.getvalue().startswith("\rwork ") and "eta ?" in out.getvalue()
    last = out.getvalue().rstrip("\n").split("\r")[-1]
    assert "10/10" in last and "eta" not in last and out.getvalue().endswith("\n")


def test_progress_eta_stays_silent_when_quiet_or_piped() -> None:
    for stream, enabled in ((io.StringIO(), True), (_Tty(), False)):
        with Progress(3, "work", stream=stream, enabled=enabled, clock=lambda: 1.0) as bar:
            bar.update(3)
        assert stream.getvalue() == ""
    out = _Tty()
    with quiet(), Progress(3, "work", stream=out) as bar:
        bar.update(1)
    assert out.getvalue() == ""
