"""The study runner with real processes under stress: Ctrl+C while an
experiment runs (exit 130, manifest interrupted, completed results intact,
the running experiment recorded as interrupted, no worker left behind), a
second Ctrl+C that kills a worker ignoring the first, workers that write
garbage or crash (recorded as failed with the cause, the study goes on,
exit 3), and Enter ending a gap on a terminal but not otherwise.

Misbehaving workers come from tests/tools/fault_worker, a test program that
runs the real study worker unless LLEM_TEST_WORKER_FAULT tells it to
misbehave; LLEM_EXE points the runner at it. The llem binary itself has no
fault injection (test_llem_binary_has_no_fault_injection)."""
import csv
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from llemtest import LLEM, TOOLS, clean_env

BASE = """name: stress
model: synthetic/tiny-llama
n: 2
max_input_tokens: 16
max_output_tokens: 4
decoder: {preset: deterministic, min_new_tokens: 4}
warmup: {enabled: false, thermal_floor_seconds: 0}
baseline: {enabled: false}
energy: {backend: null}
output_dir: %(out)s
"""

# One config, three cycles in a row: runs c1_, c2_, c3_.
THREE_RUNS = ("sweep: {}\nexecution: {n_cycles: 3, cycle_order: sequential,"
              " experiment_gap_seconds: 0, cycle_gap_seconds: 0}\n")


class StudySignals(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="llem-study-sig-")
        self.out = os.path.join(self.dir, "results")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for pid in self.workers(everything=True):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.dir)

    def faulty_env(self, fault):
        """A study whose workers are fault_worker, misbehaving as fault says."""
        return clean_env(LLEM_EXE=os.path.join(TOOLS, "fault_worker"),
                         LLEM_TEST_WORKER_FAULT=fault)

    def study(self, extra):
        path = os.path.join(self.dir, "study.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(BASE % {"out": self.out} + extra)
        return path

    def start(self, path, env=None, **kw):
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.Popen([LLEM, "run", path], text=True,
                             env=env if env is not None else clean_env(), **kw)
        self.procs.append(p)
        return p

    def workers(self, everything=False):
        """Live `llem __worker` processes of this test's studies (with
        everything, also the `llem run` of this test's study file)."""
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
                with open(f"/proc/{pid}/stat", "rb") as f:
                    state = f.read().rsplit(b")", 1)[1].split()[0]
            except OSError:
                continue
            if state != b"Z" and (everything or b"__worker" in argv) and \
                    os.path.basename(argv[0]) in (b"llem", b"fault_worker") and \
                    any(self.dir.encode() in a for a in argv):
                found.append(int(pid))
        return found

    def study_dir(self):
        dirs = os.listdir(self.out)
        self.assertEqual(len(dirs), 1)
        return os.path.join(self.out, dirs[0])

    def manifest(self):
        with open(os.path.join(self.study_dir(), "manifest.json"), encoding="utf-8") as f:
            return json.load(f)

    def wait_for(self, what, cond, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if cond():
                    return
            except (OSError, ValueError, KeyError, IndexError, AssertionError):
                pass  # not written yet
            time.sleep(0.05)
        self.fail("timed out waiting for " + what)

    def second_run_started(self):
        m = self.manifest()
        return m["experiments"][0]["status"] == "completed" and \
            m["experiments"][1]["status"] == "running" and len(self.workers()) == 1

    def test_ctrl_c_while_an_experiment_runs(self):
        # The second experiment measures a 30 s idle baseline (fake GPU):
        # a real experiment, interrupted in the middle of its work.
        path = self.study(
            "experiments:\n  - {n: 2}\n"
            "  - {baseline: {enabled: true, duration_seconds: 30}, energy: {backend: auto}}\n"
            "  - {n: 3}\n"
            "execution: {n_cycles: 1, cycle_order: sequential, experiment_gap_seconds: 0,"
            " cycle_gap_seconds: 0}\n")
        p = self.start(path, env=clean_env(
            LD_LIBRARY_PATH=os.environ.get("LLEM_FAKE_NVML_DIR", "")))
        self.wait_for("the second run", self.second_run_started)
        time.sleep(1.0)  # well inside the baseline
        self.assertIsNone(p.poll())
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        self.assertLess(time.monotonic() - t0, 4.0)  # SIGTERM, not the 5 s grace
        self.assertEqual(p.returncode, 130, err)
        self.assertIn("Interrupt received", err)
        self.assertIn("Manifest: interrupted", err)
        self.assertEqual(self.workers(), [], "a worker outlived the interrupted study")
        m = self.manifest()
        self.assertEqual(m["status"], "interrupted")
        self.assertEqual([e["status"] for e in m["experiments"]],
                         ["completed", "interrupted", "pending"])
        self.assertEqual((m["completed"], m["failed"], m["pending"]), (1, 0, 2))
        cut = m["experiments"][1]
        self.assertEqual(cut["error_type"], "Interrupted")
        self.assertIn("SIGTERM", cut["error_message"])
        self.assertIsNone(cut["result_file"])
        self.assertIsNotNone(cut["completed_at"])
        self.assertIsNone(m["experiments"][2]["started_at"])
        # The completed run's result is intact and in the tables.
        d = self.study_dir()
        with open(os.path.join(d, m["experiments"][0]["result_file"]), encoding="utf-8") as f:
            self.assertEqual(json.load(f)["tokens"]["output_tokens"], 8)
        with open(os.path.join(d, "results.csv"), encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual([r["status"] for r in rows], ["completed", "interrupted"])
        with open(os.path.join(d, "study.json"), encoding="utf-8") as f:
            s = json.load(f)
        self.assertEqual((s["status"], s["summary"]["completed"], s["summary"]["failed"]),
                         ("interrupted", 1, 0))
        # The worker ended cleanly: its log says why, no result was kept.
        self.assertNotIn("result.json", os.listdir(os.path.join(
            d, next(x for x in os.listdir(d) if x.startswith("c1_") and
                    x.endswith(cut["config_hash"][:8])))))

    def test_second_ctrl_c_kills_a_worker_that_ignores_the_first(self):
        path = self.study(THREE_RUNS)
        p = self.start(path, env=self.faulty_env("stuck:/c2_"))
        self.wait_for("the second run", self.second_run_started)

        def ignoring_sigterm():  # the worker says so once its handlers are set
            d = self.study_dir()
            c2 = next(x for x in os.listdir(d) if x.startswith("c2_"))
            with open(os.path.join(d, c2, "worker.log"), encoding="utf-8") as f:
                return "ignoring SIGTERM" in f.read()

        self.wait_for("the stuck worker", ignoring_sigterm)
        p.send_signal(signal.SIGINT)
        time.sleep(1.0)
        # SIGTERM is ignored: llem waits out its 5 s grace period...
        self.assertIsNone(p.poll(), "llem did not wait for the worker")
        self.assertEqual(len(self.workers()), 1)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)  # ...unless asked again
        out, err = p.communicate(timeout=30)
        self.assertLess(time.monotonic() - t0, 2.5)
        self.assertEqual(p.returncode, 130, err)
        self.assertIn("Force-killing", err)
        self.assertEqual(self.workers(), [])
        m = self.manifest()
        self.assertEqual(m["status"], "interrupted")
        self.assertEqual([e["status"] for e in m["experiments"]],
                         ["completed", "interrupted", "pending"])
        self.assertIn("SIGKILL", m["experiments"][1]["error_message"])

    def test_worker_writing_garbage_is_recorded_and_the_study_goes_on(self):
        path = self.study(THREE_RUNS)
        p = self.start(path, env=self.faulty_env("garbage:/c2_"))
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 3, err)
        m = self.manifest()
        self.assertEqual(m["status"], "completed")
        self.assertEqual([e["status"] for e in m["experiments"]],
                         ["completed", "failed", "completed"])
        bad = m["experiments"][1]
        self.assertEqual(bad["error_type"], "ProcessCrash")
        self.assertIn("without a valid result", bad["error_message"])
        self.assertIn('"this is not a result"', bad["error_message"])
        self.assertIsNone(bad["result_file"])
        with open(os.path.join(self.study_dir(), "study.json"), encoding="utf-8") as f:
            s = json.load(f)
        self.assertEqual(s["summary"]["failed"], 1)
        self.assertEqual(s["failures"][0]["error_type"], "ProcessCrash")
        self.assertIn("Failed: 1 experiment(s)", out)
        self.assertIn("without a valid result", err)

    def test_crashing_worker_is_recorded_and_the_study_goes_on(self):
        path = self.study(THREE_RUNS)
        p = self.start(path, env=self.faulty_env("crash:/c1_"))
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 3, err)
        m = self.manifest()
        self.assertEqual([e["status"] for e in m["experiments"]],
                         ["failed", "completed", "completed"])
        self.assertEqual(m["experiments"][0]["error_type"], "ProcessCrash")
        self.assertIn("killed by signal 11", m["experiments"][0]["error_message"])

    def gap_study(self, seconds):
        return self.study(
            "sweep:\n  native.batch_size: [1, 2]\n"
            "execution: {n_cycles: 1, cycle_order: sequential,"
            " experiment_gap_seconds: %d, cycle_gap_seconds: 0}\n" % seconds)

    def test_enter_on_a_terminal_ends_the_gap(self):
        # llem on a pseudo-terminal as its controlling terminal, in the
        # foreground, as in an interactive shell.
        path = self.gap_study(60)
        env = clean_env()
        pid, master = pty.fork()
        if pid == 0:  # the child: becomes llem
            try:
                os.execve(LLEM, [LLEM, "run", path], env)
            finally:
                os._exit(127)
        seen, sent, status = b"", None, None
        deadline = time.monotonic() + 90
        try:
            while time.monotonic() < deadline:
                r, _, _ = select.select([master], [], [], 0.1)
                if r:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:  # EIO: llem has exited and closed the terminal
                        chunk = b""
                    if not chunk:
                        break
                    seen += chunk
                if sent is None and b"remaining (Enter to skip)" in seen:
                    os.write(master, b"\n")
                    sent = time.monotonic()
            _, status = os.waitpid(pid, 0)
        finally:
            if status is None:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            os.close(master)
        text = seen.decode("utf-8", "replace")
        self.assertIsNotNone(sent, "no countdown on the terminal: " + text)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, text)
        self.assertLess(time.monotonic() - sent, 30)  # not the 60 s gap
        self.assertIn("Experiment gap: skipped (Enter)", text)
        self.assertIn("Total: 2/2 completed", text)
        self.assertEqual(self.manifest()["completed"], 2)

    def test_a_background_job_leaves_the_terminal_alone(self):
        # `llem run study.yaml &`: reading or flushing the terminal from a
        # background process group would stop llem (SIGTTIN/SIGTTOU).
        path = self.gap_study(2)
        env = clean_env()
        pid, master = pty.fork()
        if pid == 0:  # session leader on the terminal; llem goes to a new group
            try:
                child = os.fork()
                if child == 0:
                    os.setpgid(0, 0)
                    os.execve(LLEM, [LLEM, "run", path], env)
                _, st = os.waitpid(child, 0)
                os._exit(os.waitstatus_to_exitcode(st))
            finally:
                os._exit(127)
        seen, status, poked = b"", None, False
        deadline = time.monotonic() + 30  # the study takes ~3 s
        try:
            while status is None and time.monotonic() < deadline:
                r, _, _ = select.select([master], [], [], 0.1)
                if r:
                    try:
                        seen += os.read(master, 4096)
                    except OSError:  # EIO: the terminal's last user is gone
                        pass
                if not poked and b"Experiment gap" in seen:
                    os.write(master, b"\n")  # not to be read: llem is in the background
                    poked = True
                done, st = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = st
        finally:
            if status is None:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            os.close(master)
        text = seen.decode("utf-8", "replace")
        self.assertIsNotNone(status, "llem never finished (stopped by the terminal?): " + text)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, text)
        self.assertIn("Experiment gap: done", text)
        self.assertNotIn("skipped", text)
        self.assertNotIn("Enter to skip", text)

    def test_enter_without_a_terminal_does_not_end_the_gap(self):
        path = self.gap_study(3)
        t0 = time.monotonic()
        p = self.start(path, stdin=subprocess.PIPE)
        p.stdin.write("\n\n\n")
        p.stdin.flush()
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertGreaterEqual(time.monotonic() - t0, 3.0)
        self.assertNotIn("skipped", err)
        self.assertNotIn("Enter to skip", err)


    def test_a_second_runner_of_the_same_study_is_refused(self):
        """Two `llem run S --resume DIR` at once would both run the pending
        runs and measure each other: the second stops at the study's lock,
        naming the first's PID, and touches nothing. Once the first has
        ended, the lock is free again."""
        path = self.study("sweep:\n  native.batch_size: [1, 2]\n"
                          "execution: {n_cycles: 1, cycle_order: sequential,"
                          " experiment_gap_seconds: 60, cycle_gap_seconds: 0}\n")
        p = self.start(path)
        self.wait_for("the first run", lambda: self.manifest()["completed"] == 1)
        d = self.study_dir()
        with open(os.path.join(d, "manifest.json"), "rb") as f:
            before = f.read()
        second = subprocess.run([LLEM, "run", path, "--resume", d, "--no-gaps"],
                                capture_output=True, text=True, env=clean_env(), timeout=60)
        self.assertEqual(second.returncode, 1, second.stderr)
        self.assertIn(f"being run by another llem (PID {p.pid})", second.stderr)
        with open(os.path.join(d, "manifest.json"), "rb") as f:
            self.assertEqual(f.read(), before, "the refused runner changed the manifest")
        self.assertIsNone(p.poll(), "the first runner must go on")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 130, err)
        third = subprocess.run([LLEM, "run", path, "--resume", d, "--no-gaps"],
                               capture_output=True, text=True, env=clean_env(), timeout=120)
        self.assertEqual(third.returncode, 0, third.stderr)
        self.assertEqual(self.manifest()["completed"], 2)


class NoFaultInjectionInLlem(unittest.TestCase):
    def test_llem_binary_has_no_fault_injection(self):
        """The variable that makes fault_worker misbehave is not in llem."""
        with open(LLEM, "rb") as f:
            llem = f.read()
        with open(os.path.join(TOOLS, "fault_worker"), "rb") as f:
            tool = f.read()
        self.assertIn(b"LLEM_TEST_WORKER_FAULT", tool)  # the check can fail
        self.assertNotIn(b"LLEM_TEST_WORKER_FAULT", llem)


if __name__ == "__main__":
    unittest.main()
