# bnr-broker as the add-on runs it: the command line for the current frame, and the child
# process whose stderr a thread follows, so the UI never blocks on the pipe.
import contextlib
import os
import re
import shlex
import signal
import subprocess
import threading

import bpy

# "  42% | 12 regions done | 3 agents | 0:12 elapsed | ETA 0:17", as the broker prints it.
PROGRESS = re.compile(r"^\s*(\d+)% \|.*$")


def output_file(scene):
    """Where `blender -b file -f N` would write the current frame. bnr-broker writes there when
    given it as -o: it writes the scene's own format (PNG itself, a multilayer EXR of every
    pass, any other still format through Blender) and -o's extension follows the format."""
    if scene.render.is_movie_format:
        raise ValueError("bnr renders still frames; the scene's output is a movie (" +
                         scene.render.image_settings.file_format + "): choose an image format")
    return bpy.path.abspath(scene.render.frame_path(frame=scene.frame_current))


def broker_command(prefs, blend, scene, preview):
    """The command line, and the file it writes."""
    out = output_file(scene)
    program = bpy.path.abspath(prefs.broker_path) if os.sep in prefs.broker_path else prefs.broker_path
    command = [program, blend, "--frame", str(scene.frame_current), "-o", out, "--preview", preview]
    command += shlex.split(prefs.extra_args)
    return command, out


class BrokerRun:
    """The broker child process. Its progress lines become `status`; other lines are kept as
    the last one (the broker's reason when it fails) and, with `echo`, printed."""

    def __init__(self, command, cwd, echo):
        self.process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True, bufsize=1)
        self.percent = 0
        self.progress = ""
        self.last_line = ""
        self.cancelled = False
        self.echo = echo
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stderr:
            line = line.rstrip("\n").split("\r")[-1].replace("\033[K", "")
            if not line.strip():
                continue
            match = PROGRESS.match(line)
            if match:
                self.percent = int(match.group(1))
                self.progress = line.strip()
                continue
            self.last_line = line.strip()
            if self.echo:
                print(line, flush=True)

    @property
    def status(self):
        """What the status bar says: the progress line, else what the broker said last."""
        if self.cancelled:
            return "cancelling (the spool is kept: rendering again resumes)"
        return self.progress or self.last_line or "starting bnr-broker"

    def cancel(self):
        """The broker's Ctrl+C: the job is cancelled on every agent and the spool kept."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.cancelled = True

    def wait(self, timeout=None):
        """The exit code, or None when `timeout` (seconds) passed first."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(timeout=5)
        return code


@contextlib.contextmanager
def signals_cancel(run):
    """While the body runs, Ctrl+C (SIGINT) and SIGTERM to this Blender cancel `run`, as Esc
    does in the UI: without it, background mode's Blender would end and leave the broker
    rendering. Main thread only (Python handles signals there); Blender's own SIGINT handler
    is C code Python cannot put back, so SIGINT has the default action afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        signal.signal(s, lambda *_: run.cancel())
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
