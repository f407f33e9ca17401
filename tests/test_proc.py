"""The one subprocess wrapper: output streamed line by line, a timeout that bounds the whole
run (reading included) and kills the command's whole process group, interrupts handed on.
Children are small Python programs run with this interpreter."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from opforge.core import proc


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def wait_until_gone(pid: int) -> bool:
    for _ in range(100):  # killed processes are reaped by init: give it a moment
        if gone(pid):
            return True
        time.sleep(0.1)
    return False


def test_lines_stream_as_they_come_and_the_output_is_kept():
    seen = []
    result = proc.run(python(r"""
        import sys
        sys.stdout.write("one\n"); sys.stdout.flush()
        sys.stderr.write("two\r\n"); sys.stderr.flush()
        sys.stdout.buffer.write(b"bad \xff byte\nno newline at the end"); sys.exit(3)
    """), on_line=seen.append, echo=False)
    assert result.returncode == 3
    assert seen == ["one", "two", "bad \ufffd byte", "no newline at the end"]
    assert result.output == "one\ntwo\nbad \ufffd byte\nno newline at the end"


def test_timeout_fires_while_the_child_keeps_printing():
    seen = []
    with pytest.raises(proc.TimedOut) as caught:
        proc.run(python("""
            import time
            for i in range(200):
                print(f"line {i}", flush=True)
                time.sleep(0.1)
        """), on_line=seen.append, timeout=1, echo=False)
    assert seen[0] == "line 0"  # streamed before the timeout
    assert caught.value.output.startswith("line 0\n")
    assert "did not finish within 1s and was killed" in caught.value.message
    assert caught.value.details[0] == "its last output:" and caught.value.exit_code == 4
    assert caught.value.details[-1] == seen[-1]


def test_timeout_kills_the_children_of_the_child(tmp_path):
    """A child that printed, then waits on a grandchild holding the output pipe open: the
    timeout fires, and the grandchild dies with it."""
    pid_file = tmp_path / "grandchild.pid"
    with pytest.raises(proc.TimedOut) as caught:
        proc.run(python(f"""
            import subprocess, sys, time
            grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
            open({str(pid_file)!r}, "w").write(str(grandchild.pid))
            print("started", flush=True)
            time.sleep(30)
        """), timeout=2, echo=False)
    assert caught.value.output == "started\n"
    assert wait_until_gone(int(pid_file.read_text()))


def test_an_interrupt_reaches_the_running_children():
    """The children run in their own sessions (out of the terminal's Ctrl-C): the command
    line's SIGINT handler hands the interrupt on through interrupt_children."""
    results = []
    started = threading.Event()

    def on_line(line: str) -> None:
        started.set()

    worker = threading.Thread(target=lambda: results.append(proc.run(python("""
        import time
        print("waiting", flush=True)
        time.sleep(30)
    """), on_line=on_line, timeout=60, echo=False)))
    worker.start()
    assert started.wait(30)
    proc.interrupt_children()
    worker.join(60)
    assert results and results[0].returncode == -2  # Python ends an uncaught one by SIGINT
    assert "KeyboardInterrupt" in results[0].output


def test_a_missing_program_is_a_toolchain_error(tmp_path):
    with pytest.raises(proc.ToolchainError, match="cannot run"):
        proc.run([str(tmp_path / "no-such-program")], echo=False)


def test_vector_children_that_hang_are_killed_and_reported(built_example, example_copy,
                                                           monkeypatch):
    """`opforge test`: a test process past its timeout is a failure of that framework (exit
    6), not a hang; here the timeout is shorter than importing PyTorch."""
    from opforge import recipe, releases
    from opforge.artifacts import vectors

    monkeypatch.setattr(vectors, "CHILD_TIMEOUT_S", 0.05)
    report = vectors.run_all(recipe.load(example_copy / "recipe.toml"),
                             releases.resolve("local", {}), ["pytorch"],
                             Path(built_example["out_dir"]))
    assert report.exit_code() == 6
    assert report.fatal[0].startswith("pytorch: the test process did not finish within 0.05 s "
                                      "and was killed")


def test_inventory_children_that_hang_are_killed_and_reported(built_example, monkeypatch):
    from opforge.artifacts import inventory

    monkeypatch.setattr(inventory, "TIMEOUT_S", 0.05)
    art = next(a for a in built_example["artifacts"] if a["framework"] == "pytorch")
    found = inventory.take(Path(art["library"]), Path(art["manifest"]), use_cache=False)
    assert found.error == (f"loading {Path(art['library']).name} did not finish in 0.05 s "
                           f"(a static initializer that hangs?)")


def test_a_signal_while_the_registry_is_held_waits_for_it(tmp_path):
    """Ctrl-C or SIGTERM landing while the main thread holds the children's registry (it
    does while starting a child): the handler takes the same lock to hand the signal on, so
    it once waited for ever. Now the signal is held back until the registry is free."""
    script = (
        "import os, signal\n"
        "from opforge.cli import main as cli\n"
        "from opforge.core import proc\n"
        "signal.signal(signal.SIGINT, cli._interrupted)\n"
        "try:\n"
        "    with proc._registry():\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        print('inside, not interrupted yet', flush=True)\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted once the registry was free', flush=True)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.splitlines() == ["inside, not interrupted yet",
                                          "interrupted once the registry was free"], result
