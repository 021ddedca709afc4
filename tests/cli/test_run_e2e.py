"""End-to-end `llem run` on the native backend with the energy sources
llem supports, each through its real code path: no sensor (energy null
with the reason), a fake libnvidia-ml.so.1 loaded by dlopen, a fake
powercap tree written while the run goes, and a replayed trace. Every
result.json is checked against docs/result.schema.json and its numbers
against what the scripted sources imply."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

import jsonschema
import pyarrow.parquet as pq

from llemtest import FAKE_NVML_DIR, LLEM, SOURCE, clean_env, run

SCHEMA = json.load(open(os.path.join(SOURCE, "docs", "result.schema.json"), encoding="utf-8"))

CONFIG = """model: synthetic/tiny-llama
n: 6
max_input_tokens: 32
max_output_tokens: 8
precision: fp32
decoder: {preset: deterministic, min_new_tokens: 8}
native: {batch_size: 2, threads: 1}
warmup: {n_warmup: 1, thermal_floor_seconds: 0}
baseline: {enabled: false}
energy: {sample_interval_ms: 10, rapl_root: %(rapl)s}
output_dir: %(out)s
"""


class RunE2E(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="llem-e2e-")
        self.rapl = os.path.join(self.dir, "powercap")
        os.makedirs(self.rapl)
        self.out = os.path.join(self.dir, "results")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def config(self, model="synthetic/tiny-llama"):
        path = os.path.join(self.dir, "exp.yaml")
        text = CONFIG % {"rapl": self.rapl, "out": self.out}
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace("synthetic/tiny-llama", model))
        return path

    def result(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        saved = re.search(r"^Saved: (.*)$", r.stderr, re.M).group(1)
        with open(os.path.join(saved, "result.json"), encoding="utf-8") as f:
            res = json.load(f)
        jsonschema.validate(res, SCHEMA)
        return res, saved

    def no_nvml_env(self, **extra):
        return clean_env(LLEM_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1", **extra)

    def test_without_sensors_energy_is_null_with_the_reason(self):
        r = run(["run", self.config()], env=self.no_nvml_env())
        res, saved = self.result(r)
        self.assertIsNone(res["energy"])
        self.assertIn("NVML: libnvidia-ml.so.1 not found", res["energy_null_reason"])
        self.assertIn(f"RAPL: no powercap zones under {self.rapl}", res["energy_null_reason"])
        self.assertIn("not measured: NVML", r.stdout)
        self.assertFalse(os.path.exists(os.path.join(saved, "timeseries.parquet")))
        # Fixed-length outputs, no padding: 6 requests x 8 tokens.
        self.assertEqual(res["tokens"]["output_tokens"], 48)
        self.assertEqual(res["tokens"]["requests"], 6)
        self.assertEqual(res["tokens"]["total_tokens"],
                         res["tokens"]["input_tokens"] + res["tokens"]["output_tokens"])
        # Byte tokenizer: one token per UTF-8 byte, truncated to 32.
        with open(os.path.join(SOURCE, "datasets", "aienergyscore.jsonl"), encoding="utf-8") as f:
            prompts = [json.loads(line)["prompt"] for line in f.readlines()[1:7]]
        self.assertEqual(res["tokens"]["input_tokens"],
                         sum(min(len(p.encode("utf-8")), 32) for p in prompts))
        self.assertEqual(res["latency"]["itl_ms"]["samples"], 6 * 7)
        self.assertEqual(res["latency"]["ttft_ms"]["samples"], 6)
        self.assertAlmostEqual(res["throughput"]["output_tokens_per_s"],
                               48 / res["duration_s"], places=6)
        self.assertEqual(res["warmup"]["iterations_completed"], 1)
        self.assertEqual(res["model_info"]["layers"], 2)
        # FLOPs by the stated formula (tiny-llama: see data/synthetic-presets.json).
        mi = res["model_info"]
        dense = 2 * mi["non_embedding_parameters"]
        head = 2 * mi["vocab_size"] * mi["hidden_size"]
        attn = 4 * mi["layers"] * mi["attention_heads"] * 16
        lens = [min(len(p.encode("utf-8")), 32) for p in prompts]
        prefill = sum(dense * n + attn * n * (n + 1) / 2 + head for n in lens)
        decode = sum((dense + head) * 7 + attn * sum(p + 1 for p in range(n, n + 7)) for n in lens)
        self.assertAlmostEqual(res["flops"]["prefill_flops"], prefill, delta=prefill * 1e-12)
        self.assertAlmostEqual(res["flops"]["decode_flops"], decode, delta=decode * 1e-12)

    def test_fake_nvml_energy_equals_scripted_power_times_time(self):
        env = clean_env(LD_LIBRARY_PATH=FAKE_NVML_DIR, FAKE_NVML_GPUS="2",
                        FAKE_NVML_POWER_MW="300000,150000")
        # A model big enough for a window of ~1 s, sampled every 10 ms.
        r = run(["run", self.config("synthetic/smollm-135m"), "--set", "n=4",
                 "--set", "max_output_tokens=16", "--set", "decoder.min_new_tokens=16"], env=env)
        res, saved = self.result(r)
        e = res["energy"]
        self.assertEqual([d["device"] for d in e["devices"]], ["gpu0", "gpu1"])
        for d, watts in zip(e["devices"], (300.0, 150.0)):
            self.assertEqual(d["method"], "counter")
            # The counter is exact; the window is timed on the same clock.
            self.assertAlmostEqual(d["energy_j"] / res["duration_s"], watts, delta=watts * 0.01)
            self.assertAlmostEqual(d["integral_energy_j"], d["energy_j"], delta=d["energy_j"] * 0.01)
        self.assertAlmostEqual(e["total_energy_j"], sum(d["energy_j"] for d in e["devices"]), places=9)
        self.assertAlmostEqual(e["energy_per_output_token_j"], e["total_energy_j"] / 64, places=9)
        self.assertGreaterEqual(e["devices"][0]["power_samples"], 10)
        t = pq.read_table(os.path.join(saved, "timeseries.parquet")).to_pydict()
        self.assertEqual(set(t["device"]), {"gpu0", "gpu1"})
        self.assertIn("window", t["phase"])
        power = {d: {p for p, dd in zip(t["power_w"], t["device"]) if dd == d} for d in ("gpu0", "gpu1")}
        self.assertEqual(power, {"gpu0": {300.0}, "gpu1": {150.0}})

    def test_gpu_lost_mid_run_reports_no_energy_for_it(self):
        # gpu1 is lost 1 s after the first nvmlInit: after the meter has
        # opened (well under 1 s), before the window of this workload ends.
        env = clean_env(LD_LIBRARY_PATH=FAKE_NVML_DIR, FAKE_NVML_GPUS="2",
                        FAKE_NVML_LOST_GPU="1", FAKE_NVML_LOST_AFTER_MS="1000")
        r = run(["run", self.config("synthetic/smollm-135m"), "--set", "n=8",
                 "--set", "max_output_tokens=32", "--set", "decoder.min_new_tokens=32",
                 "--set", "warmup.enabled=false"], env=env,
                timeout=600)  # about 90 s in the ASan build
        self.assertEqual(r.returncode, 0, r.stderr)
        res, _ = self.result(r)
        self.assertEqual([d["device"] for d in res["energy"]["devices"]], ["gpu0"])
        self.assertTrue(any(w.startswith("device_read_failed: gpu1") for w in res["warnings"]),
                        res["warnings"])

    def test_gpu_devices_selects_what_is_measured(self):
        env = clean_env(LD_LIBRARY_PATH=FAKE_NVML_DIR, FAKE_NVML_GPUS="3",
                        CUDA_VISIBLE_DEVICES="0")
        r = run(["run", self.config(), "--set", "energy.gpu_devices=2,1"], env=env)
        res, _ = self.result(r)
        # The config wins over CUDA_VISIBLE_DEVICES; order as listed.
        self.assertEqual([d["device"] for d in res["energy"]["devices"]], ["gpu2", "gpu1"])
        r = run(["run", self.config()], env=env)
        res, _ = self.result(r)
        self.assertEqual([d["device"] for d in res["energy"]["devices"]], ["gpu0"])

    def test_baseline_is_fresh_and_adjusts_energy(self):
        env = clean_env(LD_LIBRARY_PATH=FAKE_NVML_DIR, FAKE_NVML_GPUS="1",
                        FAKE_NVML_POWER_MW="100000")
        r = run(["run", self.config(), "--set", "baseline.enabled=true",
                 "--set", "baseline.duration_seconds=5"], env=env)
        res, _ = self.result(r)
        b = res["energy"]["baseline"]
        self.assertEqual(b["method"], "fresh")
        self.assertAlmostEqual(b["power_w"], 100.0, delta=0.5)
        self.assertGreaterEqual(b["duration_s"], 5.0)
        self.assertGreaterEqual(b["age_s"], 0.0)
        self.assertLess(b["age_s"], 30.0)
        # Constant power: idle and loaded draw the same, adjusted ~ 0.
        self.assertLess(res["energy"]["energy_adjusted_j"], 0.02 * res["energy"]["total_energy_j"])

    def test_fake_rapl_counters_written_during_the_run(self):
        pkg = os.path.join(self.rapl, "intel-rapl:0")
        os.makedirs(os.path.join(pkg, "intel-rapl:0:0"))
        for path, name in ((pkg, "package-0"), (os.path.join(pkg, "intel-rapl:0:0"), "dram")):
            with open(os.path.join(path, "name"), "w") as f:
                f.write(name + "\n")
            with open(os.path.join(path, "max_energy_range_uj"), "w") as f:
                f.write("262143328850\n")
            with open(os.path.join(path, "energy_uj"), "w") as f:
                f.write("%020d\n" % 0)
        stop = threading.Event()

        def writer():
            # package at 40 W, dram at 5 W, from a monotonic clock.
            t0 = time.monotonic()
            # Rewritten in place, one fixed-width write each, as sysfs
            # values change under an open file (never a new inode).
            files = [(open(os.path.join(path, "energy_uj"), "r+b", buffering=0), watts)
                     for path, watts in ((pkg, 40), (os.path.join(pkg, "intel-rapl:0:0"), 5))]
            while not stop.is_set():
                dt = time.monotonic() - t0
                for f, watts in files:
                    os.pwrite(f.fileno(), b"%020d\n" % int(dt * watts * 1e6), 0)
                time.sleep(0.002)
            for f, _ in files:
                f.close()

        th = threading.Thread(target=writer)
        th.start()
        try:
            r = run(["run", self.config("synthetic/smollm-135m"), "--set", "n=4",
                 "--set", "energy.backend=rapl"], env=self.no_nvml_env())
        finally:
            stop.set()
            th.join()
        res, _ = self.result(r)
        devs = {d["device"]: d for d in res["energy"]["devices"]}
        self.assertEqual(set(devs), {"package-0", "dram-0"})
        self.assertAlmostEqual(devs["package-0"]["energy_j"] / res["duration_s"], 40, delta=4)
        self.assertAlmostEqual(devs["dram-0"]["energy_j"] / res["duration_s"], 5, delta=0.5)
        self.assertIsNone(devs["package-0"]["integral_energy_j"])  # RAPL has no power reading

    def test_replayed_trace_gives_its_energy(self):
        trace = os.path.join(self.dir, "trace.csv")
        with open(trace, "w") as f:
            f.write("t_s,device,energy_j,power_w\n")
            for i in range(0, 3001):
                t = i * 0.1
                f.write(f"{t:.1f},gpu0,{250.0 * t:.6f},250\n")
        r = run(["run", self.config("synthetic/smollm-135m"), "--set", "n=4",
                 "--set", "energy.backend=replay",
                 "--set", f"energy.replay_file={trace}"], env=self.no_nvml_env())
        res, _ = self.result(r)
        d = res["energy"]["devices"][0]
        self.assertEqual((d["device"], d["method"]), ("gpu0", "counter"))
        self.assertAlmostEqual(d["energy_j"] / res["duration_s"], 250.0, delta=2.5)

    def test_warmup_until_latency_converges(self):
        r = run(["run", self.config(), "--set", "warmup.convergence_detection=true",
                 "--set", "warmup.cv_threshold=0.5", "--set", "warmup.window_size=3",
                 "--set", "warmup.min_prompts=5", "--set", "warmup.max_prompts=20"],
                env=self.no_nvml_env())
        res, _ = self.result(r)
        w = res["warmup"]
        self.assertEqual(w["mode"], "cv")
        self.assertEqual(len(w["latencies_ms"]), w["iterations_completed"])
        self.assertGreaterEqual(w["iterations_completed"], 5)
        self.assertLessEqual(w["iterations_completed"], 20)
        if w["converged"]:
            self.assertLessEqual(w["final_cv"], 0.5)
            lat = w["latencies_ms"][-3:]
            mean = sum(lat) / 3
            cv = (sum((x - mean) ** 2 for x in lat) / 3) ** 0.5 / mean
            self.assertAlmostEqual(cv, w["final_cv"], places=9)
        else:
            self.assertEqual(w["iterations_completed"], 20)

    def test_explicit_source_that_is_missing_fails_preflight(self):
        r = run(["run", self.config(), "--set", "energy.backend=nvml"], env=self.no_nvml_env())
        self.assertEqual(r.returncode, 1)
        self.assertIn("preflight failed", r.stderr)
        self.assertIn("energy.backend is nvml but NVML: libnvidia-ml.so.1 not found", r.stderr)
        self.assertFalse(os.path.exists(self.out))

    def test_ctrl_c_leaves_no_result(self):
        p = subprocess.Popen([LLEM, "run", self.config(), "--set", "baseline.enabled=true",
                              "--set", "baseline.duration_seconds=30"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=clean_env(LD_LIBRARY_PATH=FAKE_NVML_DIR))
        time.sleep(2.0)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 130, err)
        self.assertIn("Interrupted.", err)
        found = [f for _, _, fs in os.walk(self.dir) for f in fs if f == "result.json"]
        self.assertEqual(found, [])


if __name__ == "__main__":
    unittest.main()
