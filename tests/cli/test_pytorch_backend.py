"""The pytorch backend end to end, through llem's C side: the real worker
(src/backends/pytorch_worker.py) under the venv's torch + transformers on
CPU. The strongest check: on the same synthetic weights and token ids the
pytorch backend's greedy tokens equal the native engine's, token for token.
Failure modes use small stand-in workers (LLEM_PYTORCH_WORKER) that die,
hang, write garbage or lie about the clock; a Python without torch must
fail preflight naming what is missing."""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import jsonschema

from llemtest import LLEM, SOURCE, TOOLS, clean_env, run

SCHEMA = json.load(open(os.path.join(SOURCE, "docs", "result.schema.json"), encoding="utf-8"))

CONFIG = """model: synthetic/{preset}
backend: {backend}
n: {n}
max_input_tokens: 48
max_output_tokens: {max_out}
precision: fp32
random_seed: 7
decoder: {{preset: deterministic{min_new}}}
warmup: {{n_warmup: 1, thermal_floor_seconds: 0}}
baseline: {{enabled: false}}
energy: {{backend: null}}
output_dir: {out}
"""

PROMPTS = ["The quick brown fox jumps over", "Energy per token",
           "A much longer prompt: batch size changes energy per token by a lot."]


def no_nvml_env(**extra):
    return clean_env(LLEM_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1", **extra)


class PytorchBackend(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="llem-pt-")
        self.out = os.path.join(self.dir, "results")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def config(self, backend="pytorch", preset="tiny-llama", n=4, max_out=12,
               min_new=None, section=None, name="exp.yaml"):
        text = CONFIG.format(preset=preset, backend=backend, n=n, max_out=max_out,
                             min_new="" if min_new is None else ", min_new_tokens: %d" % min_new,
                             out=self.out)
        if section:
            text += section + "\n"
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def tokens(self, cfg, prompts=PROMPTS, env=None):
        r = subprocess.run([os.path.join(TOOLS, "backend_tokens"), cfg] + list(prompts),
                           capture_output=True, text=True, timeout=300,
                           env=env or no_nvml_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    # ---- the same tokens as the native engine -------------------------

    def test_greedy_tokens_equal_native_on_every_tiny_preset(self):
        for preset in ("tiny-llama", "tiny-llama3", "tiny-qwen2"):
            with self.subTest(preset=preset):
                native = self.tokens(self.config("native", preset, name="n.yaml",
                                                 section="native: {batch_size: 1, threads: 1}"))
                torch1 = self.tokens(self.config("pytorch", preset, name="p.yaml",
                                                 section="pytorch: {batch_size: 1}"))
                for i, (a, b) in enumerate(zip(native["requests"], torch1["requests"])):
                    self.assertGreater(len(a["tokens"]), 0)
                    self.assertEqual(a["tokens"], b["tokens"], "%s prompt %d" % (preset, i))
                    self.assertEqual(a["input_tokens"], b["input_tokens"])
                    self.assertEqual(a["output_tokens"], b["output_tokens"])
                    self.assertEqual(a["stopped_at_eos"], b["stopped_at_eos"])
                # Same architecture numbers from both sides.
                for key in ("params_total", "params_non_embedding", "layers", "hidden_size",
                            "heads", "kv_heads", "vocab_size"):
                    self.assertEqual(native["model_info"][key], torch1["model_info"][key], key)

    def test_batched_prompts_of_different_lengths_give_the_unbatched_tokens(self):
        one = self.tokens(self.config(section="pytorch: {batch_size: 1}", name="a.yaml"))
        three = self.tokens(self.config(section="pytorch: {batch_size: 3}", name="b.yaml"))
        self.assertEqual([r["tokens"] for r in one["requests"]],
                         [r["tokens"] for r in three["requests"]])
        self.assertEqual(three["model_info"]["batch_size"], 3)

    def test_fixed_length_outputs_count_exactly_and_timestamps_are_sane(self):
        res = self.tokens(self.config(max_out=9, min_new=9, section="pytorch: {batch_size: 2}"))
        for r in res["requests"]:
            self.assertEqual(r["output_tokens"], 9)
            self.assertEqual(len(r["tokens"]), 9)
            self.assertEqual(len(r["times_ns"]), 9)
            self.assertEqual(r["times_ns"], sorted(r["times_ns"]))
            self.assertLessEqual(r["start_ns"], r["first_token_ns"])
            self.assertEqual(r["first_token_ns"], r["times_ns"][0])
            self.assertEqual(r["end_ns"], r["times_ns"][-1])
        # Byte-level ids, as the native engine counts them, cut at max_input_tokens.
        self.assertEqual([r["input_tokens"] for r in res["requests"]],
                         [min(len(p.encode()), 48) for p in PROMPTS])

    # ---- llem run ------------------------------------------------------

    def test_llem_run_writes_a_valid_result(self):
        r = run(["run", self.config(n=4, max_out=8, min_new=8,
                                    section="pytorch: {batch_size: 2}")], env=no_nvml_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        saved = re.search(r"^Saved: (.*)$", r.stderr, re.M).group(1)
        with open(os.path.join(saved, "result.json"), encoding="utf-8") as f:
            res = json.load(f)
        jsonschema.validate(res, SCHEMA)
        self.assertEqual(res["backend"], "pytorch")
        self.assertIn("transformers 5.24.0", res["backend_version"])
        self.assertIn("torch 2.13.0", res["backend_version"])
        self.assertEqual(res["tokens"]["output_tokens"], 4 * 8)
        self.assertIsNone(res["energy"])
        self.assertGreater(res["memory"]["peak_memory_mb"], 50)  # a torch process
        self.assertIn("VmHWM", res["memory"]["method"])
        lat = res["latency"]
        self.assertGreater(lat["ttft_ms"]["mean"], 0)
        self.assertLess(lat["ttft_ms"]["mean"], res["duration_s"] * 1000)
        self.assertGreater(lat["itl_ms"]["mean"], 0)

    def test_a_study_mixes_native_and_pytorch_in_separate_workers(self):
        study = os.path.join(self.dir, "study.yaml")
        with open(study, "w", encoding="utf-8") as f:
            f.write("""name: mixed
model: synthetic/tiny-llama
n: 2
max_input_tokens: 32
max_output_tokens: 4
decoder: {preset: deterministic, min_new_tokens: 4}
warmup: {n_warmup: 1, thermal_floor_seconds: 0}
baseline: {enabled: false}
energy: {backend: null}
output_dir: %s
sweep:
  backend: [native, pytorch]
execution: {n_cycles: 1, cycle_order: sequential}
""" % self.out)
        r = run(["run", study, "--no-gaps"], env=no_nvml_env())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        study_dir = [os.path.join(self.out, d) for d in os.listdir(self.out)][0]
        with open(os.path.join(study_dir, "results.csv"), encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(sorted(row["backend"] for row in rows), ["native", "pytorch"])
        with open(os.path.join(study_dir, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        self.assertEqual([e["status"] for e in manifest["experiments"]],
                         ["completed", "completed"])

    def test_python_worker_sees_the_users_environment_in_a_study(self):
        # The runner starts llem's own workers with OPENBLAS_NUM_THREADS=1
        # (unless the user set it); the Python worker below one must not
        # inherit it (a user's value stays). The parent's start environment
        # (/proc/PPID/environ: the `llem __worker`) shows the default was
        # still applied where it belongs.
        seen = os.path.join(self.dir, "env.json")
        worker = self.fake_worker("""
with open("/proc/%%d/environ" %% os.getppid(), "rb") as f:
    parent = dict(e.decode().split("=", 1) for e in f.read().split(b"\\0") if b"=" in e)
json.dump({"own": dict(os.environ), "parent": parent}, open(%r, "w"))
hello()
read()
os._exit(3)
""" % seen)
        study = os.path.join(self.dir, "study.yaml")
        with open(study, "w", encoding="utf-8") as f:
            f.write(CONFIG.format(preset="tiny-llama", backend="pytorch", n=2, max_out=4,
                                  min_new="", out=self.out)
                    + "sweep: {pytorch.batch_size: [1]}\nexecution: {n_cycles: 1}\n")
        for user_value in (None, "3"):
            env = no_nvml_env(LLEM_PYTORCH_WORKER=worker, OPENBLAS_NUM_THREADS=user_value)
            if user_value is None:
                env.pop("OPENBLAS_NUM_THREADS", None)
            r = run(["run", study, "--no-gaps"], env=env)
            self.assertEqual(r.returncode, 3, r.stdout + r.stderr)  # the fake fails the run
            with open(seen, encoding="utf-8") as f:
                got = json.load(f)
            self.assertEqual(got["own"].get("OPENBLAS_NUM_THREADS"), user_value)
            self.assertEqual(got["parent"].get("OPENBLAS_NUM_THREADS"), user_value or "1")
            # No marker variables: the policy travels in the worker's argv.
            self.assertEqual([k for k in got["own"] if k.startswith("LLEM_OPENBLAS")], [])

    # ---- failure modes through the C client ------------------------------

    def fake_worker(self, body):
        path = os.path.join(self.dir, "fake_worker.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(FAKE_PREFIX + body)
        return path

    def run_fake(self, body, timeout_s=None):
        env = no_nvml_env(LLEM_PYTORCH_WORKER=self.fake_worker(body),
                          LLEM_PYTORCH_TIMEOUT_S=timeout_s)
        return run(["run", self.config(n=2, max_out=4)], env=env)

    def test_worker_that_dies_during_load_is_a_failed_run(self):
        r = self.run_fake("""
hello()
read()
sys.stderr.write("fake: dying on load\\n")
os._exit(3)
""")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("pytorch worker exited with status 3", r.stderr)

    def test_worker_killed_by_a_signal_is_named(self):
        r = self.run_fake("""
hello()
read()
os.kill(os.getpid(), signal.SIGSEGV)
""")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("killed by signal 11", r.stderr)

    def test_worker_writing_garbage_is_a_failed_run(self):
        r = self.run_fake("""
hello()
read()
out.write("Traceback (most recent call last): not json\\n"); out.flush()
read()
""")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("wrote a line that is not JSON", r.stderr)
        self.assertIn("Traceback (most recent call last)", r.stderr)

    def test_hung_worker_times_out(self):
        r = self.run_fake("""
hello()
read()
time.sleep(600)
""", timeout_s="2")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("sent nothing for 2 s (timeout)", r.stderr)

    def test_ctrl_c_during_a_long_generate_ends_the_run_at_once(self):
        pidfile = os.path.join(self.dir, "worker.pid")
        worker = self.fake_worker("""
open(%r, "w").write(str(os.getpid()))
hello()
req = read()
reply(req, architecture="llama", params_total=1, embedding_params=0, tied=True, layers=1,
      hidden_size=1, intermediate_size=1, heads=1, kv_heads=1, head_dim=1, vocab_size=512,
      dtype="fp32", device="cpu", weight_bytes=4, eos_token_id=2, pad_token_id=0)
read()          # the first generate (warmup): never answered
time.sleep(600)
""" % pidfile)
        env = no_nvml_env(LLEM_PYTORCH_WORKER=worker)
        p = subprocess.Popen([LLEM, "run", self.config(n=2, max_out=4)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not os.path.exists(pidfile) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # hello, load, and the generate request are sent by now
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 130, err)
        self.assertLess(time.monotonic() - t0, 5)
        worker_pid = int(open(pidfile).read())
        deadline = time.monotonic() + 5
        while os.path.exists("/proc/%d" % worker_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(os.path.exists("/proc/%d" % worker_pid), "the Python worker outlived llem")

    def test_worker_on_another_clock_is_refused(self):
        r = self.run_fake("""
req = read()
reply(req, protocol=1, monotonic_ns=12345, torch="x", transformers="y", cuda=None)
read()
""")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("is not llem's CLOCK_MONOTONIC", r.stderr)

    def test_python_without_torch_fails_preflight_naming_it(self):
        venv = os.path.join(self.dir, "bare")
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", venv],
                       check=True, timeout=120)
        env = no_nvml_env(LLEM_PYTHON=os.path.join(venv, "bin", "python"))
        r = run(["run", self.config()], env=env)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("torch", r.stderr)
        self.assertIn("pip install", r.stderr)

    def test_missing_interpreter_is_a_preflight_error_at_the_field(self):
        cfg = self.config(section="pytorch: {python: /nonexistent/python3}")
        r = run(["run", cfg], env=no_nvml_env())
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"exp\.yaml:\d+:\d+: pytorch\.python: Python interpreter "
                                   r"'/nonexistent/python3' \(from pytorch.python\) was not found")

    def test_python_field_is_not_part_of_the_config_hash(self):
        a = run(["run", self.config(name="a.yaml"), "--dry-run", "--json"], env=no_nvml_env())
        b = run(["run", self.config(name="b.yaml", section="pytorch: {python: %s}"
                                    % sys.executable), "--dry-run", "--json"],
                env=no_nvml_env())
        self.assertEqual(a.returncode, 0, a.stderr)
        self.assertEqual(b.returncode, 0, b.stderr)
        self.assertEqual(json.loads(a.stdout)["config_hash"], json.loads(b.stdout)["config_hash"])

    def test_bad_max_memory_is_a_config_error(self):
        r = run(["run", self.config(section="pytorch: {max_memory: \"0:20GB\"}"), "--dry-run"],
                env=no_nvml_env())
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("pytorch.max_memory: is not a max_memory list", r.stderr)


# A stand-in worker speaking just enough of the protocol to misbehave.
FAKE_PREFIX = """import json, os, signal, sys, time
if "--check" in sys.argv:
    print(json.dumps({"ok": True, "protocol": 1})); sys.exit(0)
out = sys.stdout
def read():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    return json.loads(line)
def reply(req, **fields):
    fields.update(id=req["id"], ok=True)
    out.write(json.dumps(fields) + "\\n"); out.flush()
def hello():
    req = read()
    reply(req, protocol=1, monotonic_ns=time.monotonic_ns(), torch="x",
          transformers="y", cuda=None)
"""

if __name__ == "__main__":
    unittest.main()
