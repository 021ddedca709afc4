"""A real study on the native backend, run by `llem run`: every run in its
own worker process, the manifest, results.csv/.parquet and study.json,
failures recorded without stopping the study (exit 3), a timeout, and
Ctrl+C during a gap (exit 130, manifest interrupted, completed results
intact)."""
import csv
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import pyarrow.parquet as pq

from llemtest import LLEM, clean_env, run

BASE = """name: tiny-sweep
model: synthetic/tiny-llama
n: 4
max_input_tokens: 32
max_output_tokens: 8
decoder: {preset: deterministic, min_new_tokens: 8}
warmup: {n_warmup: 1, thermal_floor_seconds: 0}
baseline: {enabled: false}
energy: {backend: null}
output_dir: %(out)s
"""


class StudyE2E(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="llem-study-")
        self.out = os.path.join(self.dir, "results")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def wait_for_completed(self, n, timeout=60):
        """The manifest's path once it records n completed runs. The study
        directory exists a moment before its manifest, and the manifest is
        replaced by rename, so a missing file means "not yet": wait for it
        (bounded), and fail the test rather than go on without it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dirs = os.listdir(self.out) if os.path.isdir(self.out) else []
            if dirs:
                manifest = os.path.join(self.out, dirs[0], "manifest.json")
                try:
                    with open(manifest, encoding="utf-8") as f:
                        if json.load(f)["completed"] >= n:
                            return manifest
                except FileNotFoundError:
                    pass
            time.sleep(0.05)
        self.fail(f"no manifest with {n} completed run(s) within {timeout} s")

    def study(self, extra):
        path = os.path.join(self.dir, "study.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(BASE % {"out": self.out} + extra)
        return path

    def study_dir(self):
        dirs = os.listdir(self.out)
        self.assertEqual(len(dirs), 1)
        return os.path.join(self.out, dirs[0])

    def test_grid_times_cycles_interleaved(self):
        r = run(["run", self.study(
            "sweep:\n  native.batch_size: [1, 4]\n  precision: [fp32, bf16]\n"
            "execution: {n_cycles: 2, cycle_order: interleaved, experiment_gap_seconds: 0,"
            " cycle_gap_seconds: 0}\n")])
        self.assertEqual(r.returncode, 0, r.stderr)
        d = self.study_dir()
        results = sorted(os.path.join(root, f) for root, _, fs in os.walk(d)
                         for f in fs if f == "result.json")
        self.assertEqual(len(results), 8)
        with open(os.path.join(d, "manifest.json"), encoding="utf-8") as f:
            m = json.load(f)
        self.assertEqual((m["status"], m["completed"], m["failed"], m["total_experiments"]),
                         ("completed", 8, 0, 8))
        # Interleaved: the four configs, then the four again.
        hashes = [e["config_hash"] for e in m["experiments"]]
        self.assertEqual(hashes[:4], hashes[4:])
        self.assertEqual(len(set(hashes)), 4)
        self.assertEqual([e["cycle"] for e in m["experiments"]], [1] * 4 + [2] * 4)
        with open(os.path.join(d, "results.csv"), encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 8)
        self.assertEqual({r["native.batch_size"] for r in rows}, {"1", "4"})
        self.assertEqual({r["output_tokens"] for r in rows}, {"32"})
        t = pq.read_table(os.path.join(d, "results.parquet"))
        self.assertEqual(t.num_rows, 8)
        self.assertEqual(t.column("config_hash").to_pylist(), [r["config_hash"] for r in rows])
        with open(os.path.join(d, "study.json"), encoding="utf-8") as f:
            s = json.load(f)
        self.assertEqual(s["summary"]["completed"], 8)
        self.assertEqual(s["measurement_protocol"]["cycle_order"], "interleaved")
        # Each result really came from its own worker: config and log beside it.
        for res in results:
            self.assertTrue(os.path.isfile(os.path.join(os.path.dirname(res), "config.json")))
            self.assertTrue(os.path.isfile(os.path.join(os.path.dirname(res), "worker.log")))
        self.assertIn("Total: 8/8 completed", r.stdout)

    def test_failed_run_is_recorded_and_the_study_goes_on(self):
        r = run(["run", self.study(
            "experiments:\n  - {n: 2}\n  - {model: %s/no-such-model, native: {tokenizer: byte}}\n"
            "  - {n: 3}\n"
            "execution: {n_cycles: 1, cycle_order: sequential, experiment_gap_seconds: 0,"
            " cycle_gap_seconds: 0}\n" % self.dir)])
        self.assertEqual(r.returncode, 3, r.stderr)
        d = self.study_dir()
        with open(os.path.join(d, "manifest.json"), encoding="utf-8") as f:
            m = json.load(f)
        self.assertEqual([e["status"] for e in m["experiments"]], ["completed", "failed", "completed"])
        self.assertEqual(m["experiments"][1]["error_type"], "WorkerError")
        self.assertIn("is not a directory", m["experiments"][1]["error_message"])
        self.assertIn("Failed: 1 experiment(s)", r.stdout)

    def test_timeout_kills_the_worker(self):
        r = run(["run", self.study(
            "experiments:\n  - {model: synthetic/smollm-135m, baseline: {enabled: true,"
            " duration_seconds: 30}, energy: {backend: auto}}\n"
            "execution: {n_cycles: 1, cycle_order: sequential, experiment_gap_seconds: 0,"
            " cycle_gap_seconds: 0, experiment_timeout_seconds: 2}\n")],
            # A fake GPU so the 30 s baseline runs (and outlasts the timeout).
            env=clean_env(LD_LIBRARY_PATH=os.environ.get("LLEM_FAKE_NVML_DIR", "")))
        self.assertEqual(r.returncode, 3, r.stderr)
        with open(os.path.join(self.study_dir(), "manifest.json"), encoding="utf-8") as f:
            e = json.load(f)["experiments"][0]
        self.assertEqual(e["error_type"], "TimeoutError")

    def test_sigkill_of_llem_takes_its_worker_down(self):
        path = self.study(
            "experiments:\n  - {baseline: {enabled: true, duration_seconds: 30},"
            " energy: {backend: auto}}\n"
            "execution: {n_cycles: 1, cycle_order: sequential, experiment_gap_seconds: 0,"
            " cycle_gap_seconds: 0}\n")
        env = clean_env(LD_LIBRARY_PATH=os.environ.get("LLEM_FAKE_NVML_DIR", ""))
        p = subprocess.Popen([LLEM, "run", path], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env)

        def workers():
            found = []
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        argv = f.read().split(b"\0")
                except OSError:
                    continue
                if b"__worker" in argv and any(self.dir.encode() in a for a in argv):
                    found.append(int(pid))
            return found

        deadline = time.monotonic() + 30
        while not workers() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertTrue(workers(), "the worker never started")
        p.kill()
        p.wait()
        deadline = time.monotonic() + 10
        while workers() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(workers(), [], "a worker outlived its study runner")

    def test_resume_after_sigkill_runs_exactly_the_missing_runs(self):
        path = self.study(
            "sweep:\n  native.batch_size: [1, 2, 3]\n"
            "execution: {n_cycles: 1, cycle_order: sequential, experiment_gap_seconds: 30,"
            " cycle_gap_seconds: 0}\n")
        p = subprocess.Popen([LLEM, "run", path], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=clean_env())
        manifest = self.wait_for_completed(1)
        p.kill()  # SIGKILL: no chance to mark anything
        p.wait()
        with open(manifest, encoding="utf-8") as f:
            before = json.load(f)
        self.assertEqual(before["status"], "running")
        first = before["experiments"][0]
        d = os.path.dirname(manifest)
        # Another study file refuses to resume this directory.
        other = self.study("sweep:\n  native.batch_size: [1, 2]\n")
        r = run(["run", other, "--resume", d, "--no-gaps"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("the study definition changed", r.stderr)
        with open(path, "w", encoding="utf-8") as f:
            f.write(BASE % {"out": self.out} +
                    "sweep:\n  native.batch_size: [1, 2, 3]\n"
                    "execution: {n_cycles: 1, cycle_order: sequential,"
                    " experiment_gap_seconds: 30, cycle_gap_seconds: 0}\n")
        r = run(["run", path, "--resume", d, "--no-gaps"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.count("] ... "), 2)  # only the two missing runs
        with open(manifest, encoding="utf-8") as f:
            after = json.load(f)
        self.assertEqual(after["status"], "completed")
        self.assertEqual([e["status"] for e in after["experiments"]], ["completed"] * 3)
        self.assertEqual(after["experiments"][0]["started_at"], first["started_at"])
        with open(os.path.join(d, "results.csv"), encoding="utf-8") as f:
            self.assertEqual(len(list(csv.DictReader(f))), 3)

    def test_ctrl_c_during_a_gap(self):
        path = self.study(
            "sweep:\n  native.batch_size: [1, 2]\n"
            "execution: {n_cycles: 1, cycle_order: sequential, experiment_gap_seconds: 60,"
            " cycle_gap_seconds: 0}\n")
        p = subprocess.Popen([LLEM, "run", path], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=clean_env())
        # The first run takes well under a second; then a 60 s gap.
        manifest = self.wait_for_completed(1)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        self.assertLess(time.monotonic() - t0, 5.0)  # the gap ends at once
        self.assertEqual(p.returncode, 130, err)
        with open(manifest, encoding="utf-8") as f:
            m = json.load(f)
        self.assertEqual(m["status"], "interrupted")
        self.assertEqual([e["status"] for e in m["experiments"]], ["completed", "pending"])
        self.assertTrue(os.path.isfile(os.path.join(os.path.dirname(manifest), "results.csv")))


if __name__ == "__main__":
    unittest.main()
