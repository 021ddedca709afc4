"""scripts/gpu-check and scripts/bundle on a machine without a GPU, as far as
that goes: the clear refusal where there is no GPU (exit 2, one line why),
the planned configs of a dry run validated by `llem run --dry-run`, the whole
`run` pipeline on the native backend against the fake libnvidia-ml.so.1, the
collector on a real result.json without energy (nulls with reasons, never
numbers), its Parquet reader against pyarrow, and a bundle made from the
llem under test (no Release build here: that takes minutes)."""
import csv
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
from importlib.machinery import SourceFileLoader

from llemtest import FAKE_NVML_DIR, LLEM, SOURCE, clean_env, run

SCRIPT = os.path.join(SOURCE, "scripts", "gpu-check")
BUNDLE = os.path.join(SOURCE, "scripts", "bundle")
NO_NVML = "/nonexistent/libnvidia-ml.so.1"


def load_script():
    loader = SourceFileLoader("gpu_check", SCRIPT)
    spec = importlib.util.spec_from_loader("gpu_check", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


gc = load_script()


def gpu_check(args, env, timeout=240):
    return subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True,
                          text=True, env=env, timeout=timeout)


def fake_nvml():
    return os.path.join(FAKE_NVML_DIR, "libnvidia-ml.so.1")


def has_fake_nvml():
    return bool(FAKE_NVML_DIR) and os.path.exists(fake_nvml())


def llem_fields():
    return run(["config", "--fields"]).stdout


class Preflight(unittest.TestCase):
    def test_no_gpu_is_exit_2_with_one_line_why(self):
        env = clean_env(LLEM_NVML_LIBRARY=NO_NVML)
        out = tempfile.mkdtemp(prefix="gpu-check-")
        try:
            r = gpu_check(["run", "--llem", LLEM, "--python", "/nonexistent/python3",
                           "--out", out], env)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
            lines = r.stderr.splitlines()
            self.assertTrue(lines[0].startswith(
                "gpu-check: preflight failed: no NVIDIA GPU: NVML not loadable ("), lines[0])
            self.assertIn(NO_NVML, lines[0])
            # The other problems follow, each on its own line.
            self.assertTrue(any("also: no Python with torch, transformers and CUDA: "
                                "/nonexistent/python3" in l for l in lines[1:]), r.stderr)
            self.assertEqual(os.listdir(out), [], "nothing is written when preflight fails")
        finally:
            shutil.rmtree(out)

    def test_missing_bundle_is_exit_2(self):
        r = gpu_check(["run", "--bundle", "/nonexistent/bundle", "--backend", "native"],
                      clean_env(LLEM_NVML_LIBRARY=NO_NVML))
        self.assertEqual(r.returncode, 2)
        self.assertIn("preflight failed: no llem bundle at /nonexistent/bundle", r.stderr)

    def test_python_without_cuda_is_named(self):
        info = {"executable": "/x/python3", "python": "3.12.1", "torch": "2.5.0+cpu",
                "torch_cuda": None, "cuda_available": False, "transformers": "4.46"}
        self.assertIn("a CPU-only build", gc.python_problem(info))
        info.update(torch_cuda="12.4")
        self.assertIn("no CUDA device is usable", gc.python_problem(info))
        info.update(cuda_available=True)
        self.assertIsNone(gc.python_problem(info))
        self.assertIn("cannot import torch", gc.python_problem(
            {"executable": "/x/python3", "torch_error": "ModuleNotFoundError: torch"}))

    def test_llem_config_parsing(self):
        gpu, be = gc.parse_llem_config(
            "llem 0.1.0\n\nGPU\n  0  NVIDIA H100 80GB HBM3  79.6 GiB  power limit 700 W\n"
            "  Driver 550.54.15, CUDA 12.4\nBackends\n  native    available: built-in\n"
            "  pytorch   unavailable: no worker\n")
        self.assertIsNone(gpu["error"])
        self.assertEqual(gpu["gpus"], [{"index": 0, "name": "NVIDIA H100 80GB HBM3"}])
        self.assertEqual((gpu["driver"], gpu["cuda"]), ("550.54.15", "12.4"))
        self.assertEqual(be["pytorch"], (False, "no worker"))
        gpu, _ = gc.parse_llem_config("GPU\n  No GPU detected (libnvidia-ml.so.1 not found)\n")
        self.assertEqual(gpu["error"], "libnvidia-ml.so.1 not found")


class DryRun(unittest.TestCase):
    def test_planned_configs_pass_llem_validation(self):
        env = clean_env(LLEM_NVML_LIBRARY=NO_NVML)
        r = gpu_check(["run", "--llem", LLEM, "--python", sys.executable, "--dry-run",
                       "--time-budget-s", "3000"], env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("would fail: no NVIDIA GPU", r.stdout)
        blocks = r.stdout.split("\n# batch ")[1:]
        self.assertEqual([int(b.split(":")[0]) for b in blocks], [1, 8, 32, 64])
        has_python = "pytorch.python" in llem_fields()
        for block in blocks:
            head, _, body = block.partition("\n")
            self.assertIn("llem --dry-run: valid", head)
            b = int(head.split(":")[0])
            cfg = gc_yaml(body)
            self.assertEqual(cfg["model"], "synthetic/llama-3.1-8b")
            self.assertEqual(cfg["backend"], "pytorch")
            self.assertEqual(cfg["precision"], "bf16")
            self.assertEqual(cfg["pytorch"]["batch_size"], b)
            self.assertEqual(cfg["n"] % b, 0)
            self.assertEqual(cfg["decoder"]["min_new_tokens"], cfg["max_output_tokens"])
            self.assertIs(cfg["decoder"]["do_sample"], False)
            self.assertEqual(cfg["energy"]["backend"], "nvml")
            self.assertEqual(cfg["warmup"]["thermal_floor_seconds"], 0)
            self.assertEqual(cfg["baseline"]["duration_seconds"], 10)
            # pytorch.python is written only where llem knows the field;
            # otherwise the interpreter travels in LLEM_PYTHON.
            self.assertEqual("python" in cfg["pytorch"], has_python)
        if not has_python:
            self.assertIn("LLEM_PYTHON", r.stdout)

    def test_default_budget_skips_what_does_not_fit(self):
        env = clean_env(LLEM_NVML_LIBRARY=NO_NVML)
        r = gpu_check(["run", "--llem", LLEM, "--backend", "native", "--dry-run",
                       "--time-budget-s", "150"], env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("# batch 1: n=", r.stdout)
        self.assertIn("would be skipped under the prior estimates", r.stdout)


def gc_yaml(text):
    import yaml
    return yaml.safe_load(text)


def native_result(dirpath, env, batch=2, energy="nvml"):
    """A real result.json from the native backend; energy 'auto' with an
    empty powercap tree and no NVML measures nothing."""
    cfg = os.path.join(dirpath, "exp.yaml")
    rapl = os.path.join(dirpath, "powercap")
    os.makedirs(rapl, exist_ok=True)
    with open(cfg, "w", encoding="utf-8") as f:
        f.write("model: synthetic/tiny-llama\nbackend: native\nn: 4\nprecision: fp32\n"
                "max_input_tokens: 16\nmax_output_tokens: 4\n"
                "decoder: {do_sample: false, min_new_tokens: 4}\n"
                f"native: {{batch_size: {batch}, threads: 1}}\n"
                "warmup: {n_warmup: 1, thermal_floor_seconds: 0}\n"
                "baseline: {enabled: false}\n"
                f"energy: {{backend: {energy}, sample_interval_ms: 10, rapl_root: {rapl}}}\n"
                f"output_dir: {os.path.join(dirpath, 'results')}\n")
    r = run(["run", cfg, "--user-config", ""], env=env)
    assert r.returncode == 0, r.stderr
    saved = [l for l in r.stderr.splitlines() if l.startswith("Saved: ")][-1][7:]
    return saved


class Collect(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="gpu-check-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_no_energy_gives_nulls_with_reasons(self):
        env = clean_env(LLEM_NVML_LIBRARY=NO_NVML)
        saved = native_result(self.dir, env, energy="auto")
        with open(os.path.join(saved, "result.json"), encoding="utf-8") as f:
            res = json.load(f)
        self.assertIsNone(res["energy"])
        out = os.path.join(self.dir, "out")
        r = gpu_check(["collect", saved, "--json", "--out", out, "--stem", "t"], env)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        row = doc["runs"][0]
        reason = "energy not measured: " + res["energy_null_reason"]
        for key in ("counter_energy_j", "integral_energy_j", "integral_over_counter",
                    "baseline_power_w", "mean_power_w", "j_per_output_token",
                    "j_per_output_token_adjusted", "energy_adjusted_j"):
            self.assertIsNone(row[key], key)
            self.assertEqual(row["null_reasons"][key], reason, key)
        for key in ("power_update_period_ms", "energy_counter_update_period_ms"):
            self.assertIsNone(row[key])
            self.assertIn("energy not measured", row["null_reasons"][key])
        for key in ("gpu_name", "driver_version"):
            self.assertIsNone(row[key])
            self.assertIn("NVML not loaded", row["null_reasons"][key])
        # What was measured is there, exactly as in result.json.
        self.assertEqual(row["batch_size"], 2)
        self.assertEqual(row["output_tokens"], 16)
        self.assertEqual(row["expected_output_tokens"], 16)
        self.assertEqual(row["output_tokens_per_s"], res["throughput"]["output_tokens_per_s"])
        self.assertEqual(row["ttft_ms_median"], res["latency"]["ttft_ms"]["median"])
        self.assertEqual(row["itl_ms_p95"], res["latency"]["itl_ms"]["p95"])
        # Every key with null has its reason; no key has a reason and a value.
        for k, v in row.items():
            if v is None and k in gc.RUN_FIELDS and k not in ("status",):
                self.assertIn(k, row["null_reasons"], k)
        for k in row["null_reasons"]:
            self.assertIsNone(row[k], k)
        s = doc["summary"]
        self.assertIsNone(s["j_per_token_ratio"])
        self.assertIn("needs two measured batch sizes", s["null_reasons"]["j_per_token_ratio"])
        # The CSV leaves nulls empty.
        with open(os.path.join(out, "t.csv"), encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["counter_energy_j"], "")
        self.assertEqual(rows[0]["j_per_output_token"], "")
        self.assertEqual(float(rows[0]["output_tokens_per_s"]), row["output_tokens_per_s"])
        self.assertIn("energy not measured", rows[0]["null_reasons"])

    @unittest.skipUnless(has_fake_nvml(), "no fake NVML")
    def test_parquet_reader_matches_pyarrow(self):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            self.skipTest("no pyarrow")
        env = clean_env(LLEM_NVML_LIBRARY=fake_nvml(), FAKE_NVML_UTIL_PCT="40")
        saved = native_result(self.dir, env)
        path = os.path.join(saved, "timeseries.parquet")
        ours = gc.read_parquet(path)
        theirs = pq.read_table(path).to_pydict()
        self.assertEqual(sorted(ours), sorted(theirs))
        for k in theirs:
            self.assertEqual(ours[k], theirs[k], k)

    def test_parquet_reader_on_every_column_type_and_two_pages(self):
        """llem's table_sample tool writes every column type llem has, with
        nulls, NaNs and non-ASCII names; 70000 rows make two data pages."""
        tool = os.path.join(os.environ.get("LLEM_TOOLS_DIR", ""), "table_sample")
        try:
            import pyarrow.parquet as pq
        except ImportError:
            self.skipTest("no pyarrow")
        if not os.path.exists(tool):
            self.skipTest("table_sample not built")
        for nrows in (0, 1, 70000):
            r = subprocess.run([tool, str(nrows), self.dir], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            path = os.path.join(self.dir, "t.parquet")
            theirs = pq.read_table(path).to_pydict()
            ours = gc.read_parquet(path)
            self.assertEqual(sorted(ours), sorted(theirs))

            def bits(v):
                return ("nan" if v != v else struct.pack("<d", v)) if isinstance(v, float) else v
            for k in theirs:
                self.assertEqual([bits(v) for v in ours[k]], [bits(v) for v in theirs[k]],
                                 f"{k} at {nrows} rows")

    def test_update_period(self):
        # A sensor that changes every 100 ms, sampled every 10 ms.
        t = [i * 0.01 for i in range(300)]
        v = [float(int(x / 0.1 + 1e-9)) for x in t]
        mean, median, changes, note = gc.update_period(t, v, 10)
        self.assertAlmostEqual(mean, 100.0, places=6)
        self.assertAlmostEqual(median, 100.0, places=6)
        self.assertEqual(changes, 29)
        self.assertIsNone(note)
        mean, _, _, note = gc.update_period(t, [float(i) for i in range(300)], 10)
        self.assertAlmostEqual(mean, 10.0, places=6)
        self.assertIn("may be shorter", note)
        mean, _, changes, note = gc.update_period(t, [5.0] * 300, 10)
        self.assertIsNone(mean)
        self.assertIn("changed 0 time(s)", note)


@unittest.skipUnless(has_fake_nvml(), "no fake NVML")
class RunPipeline(unittest.TestCase):
    """`run` end to end, on the native backend (no Python worker) with the
    fake NVML: 300 W constant, so every energy number is predictable."""

    def test_run_writes_json_and_csv(self):
        d = tempfile.mkdtemp(prefix="gpu-check-")
        try:
            env = clean_env(LLEM_NVML_LIBRARY=fake_nvml(), FAKE_NVML_NAME="NVIDIA H100 80GB HBM3",
                            FAKE_NVML_POWER_MW="300000")
            r = gpu_check(["run", "--llem", LLEM, "--backend", "native", "--model",
                           "synthetic/tiny-llama", "--precision", "fp32", "--batch-sizes",
                           "1,2", "--baseline-s", "5", "--window-s", "1", "--min-window-s",
                           "0.5", "--n-warmup", "1", "--max-input-tokens", "16",
                           "--max-output-tokens", "4", "--out", d, "--time-budget-s", "200"],
                          env)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("J/output token, batch 1 / batch 2:", r.stdout)
            stems = sorted(f for f in os.listdir(d) if f.endswith(".json"))
            self.assertEqual(len(stems), 1)
            self.assertRegex(stems[0], r"^\d{4}-\d\d-\d\d-nvidia-h100-80gb-hbm3\.json$")
            with open(os.path.join(d, stems[0]), encoding="utf-8") as f:
                doc = json.load(f)
            self.assertEqual(doc["format"], "llem-gpu-check/1")
            self.assertEqual(doc["device"]["name"], "NVIDIA H100 80GB HBM3")
            self.assertEqual(doc["device"]["driver_version"], "550.54.15")
            self.assertEqual(doc["software"]["llem_version"], "0.1.0")
            self.assertEqual([x["batch_size"] for x in doc["runs"]], [1, 2])
            for row in doc["runs"]:
                self.assertEqual(row["status"], "ok")
                self.assertEqual(row["n"] % row["batch_size"], 0)
                self.assertEqual(row["output_tokens"], row["n"] * 4)
                res_dir = os.path.join(d, row["result_dir"])
                with open(os.path.join(res_dir, "result.json"), encoding="utf-8") as f:
                    res = json.load(f)
                dev = res["energy"]["devices"][0]
                self.assertEqual(row["counter_energy_j"], dev["energy_j"])
                self.assertEqual(row["integral_energy_j"], dev["integral_energy_j"])
                self.assertAlmostEqual(row["integral_over_counter"],
                                       dev["integral_energy_j"] / dev["energy_j"])
                self.assertAlmostEqual(row["baseline_power_w"], 300.0, delta=0.5)
                self.assertEqual(row["j_per_output_token"],
                                 res["energy"]["energy_per_output_token_j"])
                self.assertAlmostEqual(row["j_per_output_token"],
                                       dev["energy_j"] / row["output_tokens"])
                # Constant power (or too short a window): nothing to time,
                # and it says so.
                self.assertIsNone(row["power_update_period_ms"])
                self.assertRegex(row["null_reasons"]["power_update_period_ms"],
                                 r"^power_w: (the value changed 0 time\(s\)|fewer than 2 samples)")
            s = doc["summary"]
            lo, hi = doc["runs"]
            self.assertAlmostEqual(s["j_per_token_ratio"],
                                   lo["j_per_output_token"] / hi["j_per_output_token"])
            with open(os.path.join(d, stems[0][:-5] + ".csv"), encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            self.assertEqual([x["batch_size"] for x in rows], ["1", "2"])
            self.assertEqual(float(rows[0]["counter_energy_j"]), lo["counter_energy_j"])
            self.assertEqual(rows[0]["gpu_name"], "NVIDIA H100 80GB HBM3")
            self.assertEqual(rows[0]["power_update_period_ms"], "")
        finally:
            shutil.rmtree(d)

    @unittest.skipUnless(importlib.util.find_spec("torch") and
                         importlib.util.find_spec("transformers"), "no torch/transformers")
    def test_pytorch_path_on_cpu_torch(self):
        """The configs really run on the pytorch backend (a CPU torch here,
        accepted with --allow-cpu-torch), the worker found and the
        interpreter passed on."""
        _, backends = gc.parse_llem_config(run(["config"]).stdout)
        if not backends.get("pytorch", (False,))[0]:
            self.skipTest("this llem has no pytorch backend")
        d = tempfile.mkdtemp(prefix="gpu-check-")
        try:
            env = clean_env(LLEM_NVML_LIBRARY=fake_nvml())
            r = gpu_check(["run", "--llem", LLEM, "--python", sys.executable,
                           "--allow-cpu-torch", "--model", "synthetic/tiny-llama",
                           "--precision", "fp32", "--batch-sizes", "2", "--baseline-s", "0",
                           "--n-warmup", "1", "--window-s", "0.5", "--min-window-s", "0.1",
                           "--max-input-tokens", "8", "--max-output-tokens", "2",
                           "--out", d], env)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            name = [f for f in os.listdir(d) if f.endswith(".json")][0]
            with open(os.path.join(d, name), encoding="utf-8") as f:
                doc = json.load(f)
            row = doc["runs"][0]
            self.assertEqual(row["status"], "ok")
            self.assertEqual(row["output_tokens"], row["n"] * 2)
            self.assertIn("transformers", row["backend_version"])
            with open(os.path.join(d, row["result_dir"], "result.json"), encoding="utf-8") as f:
                res = json.load(f)
            self.assertEqual(res["backend"], "pytorch")
            self.assertEqual(res["effective_config"]["pytorch"]["batch_size"], 2)
            if "python" in res["effective_config"]["pytorch"]:
                self.assertEqual(res["effective_config"]["pytorch"]["python"],
                                 os.path.abspath(sys.executable))
            self.assertEqual(doc["software"]["torch"].split("+")[0],
                             __import__("torch").__version__.split("+")[0])
        finally:
            shutil.rmtree(d)

    def test_budget_too_small_skips_and_says_so(self):
        d = tempfile.mkdtemp(prefix="gpu-check-")
        try:
            env = clean_env(LLEM_NVML_LIBRARY=fake_nvml())
            r = gpu_check(["run", "--llem", LLEM, "--backend", "native", "--model",
                           "synthetic/tiny-llama", "--batch-sizes", "1", "--out", d,
                           "--time-budget-s", "20"], env)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("[b=1] skipped: estimated", r.stdout)
            with open(os.path.join(d, [f for f in os.listdir(d) if f.endswith(".json")][0]),
                      encoding="utf-8") as f:
                doc = json.load(f)
            self.assertEqual(doc["runs"][0]["status"], "skipped")
            self.assertEqual(doc["skipped"][0]["batch_size"], 1)
        finally:
            shutil.rmtree(d)


def links_asan(path):
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    return r.returncode != 0 or "libasan" in r.stdout or "libubsan" in r.stdout


@unittest.skipUnless(shutil.which("ldd") and shutil.which("readelf"), "needs ldd and readelf")
class Bundle(unittest.TestCase):
    """A bundle of the llem under test (scripts/bundle --llem): the Release
    build `scripts/gpu-check bundle` makes takes minutes, this takes one."""

    def test_bundle_starts_plainly_and_through_its_own_loader(self):
        if links_asan(LLEM):
            self.skipTest("llem under test is a sanitizer build")
        d = tempfile.mkdtemp(prefix="gpu-check-bundle-")
        try:
            out = os.path.join(d, "b")
            r = subprocess.run([sys.executable, BUNDLE, out, "--llem", LLEM],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(os.path.join(out, "MANIFEST.json"), encoding="utf-8") as f:
                man = json.load(f)
            self.assertLess(man["bytes"], 60 * 1048576)
            self.assertRegex(man["glibc_needed"], r"^2\.\d+$")
            for lib in ("libfyaml.so.0", "libjansson.so.4", "libopenblas.so.0"):
                self.assertIn(lib, man["libraries"])
                self.assertTrue(os.path.exists(os.path.join(out, "lib", lib)))
            for lib in ("libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2"):
                self.assertNotIn(lib, man["libraries"])
                self.assertTrue(os.path.exists(os.path.join(out, "libc", lib)))
            self.assertTrue(os.path.exists(os.path.join(
                out, "share", "llem", "datasets", "aienergyscore.jsonl")))
            self.assertTrue(os.path.exists(os.path.join(out, "share", "llem",
                                                        "synthetic-presets.json")))
            env = clean_env(LLEM_NVML_LIBRARY=NO_NVML,
                            LLEM_DATA_DIR=os.path.join(out, "share", "llem"))
            env.pop("LD_LIBRARY_PATH", None)
            libc = os.path.join(out, "libc")
            plain = [os.path.join(out, "bin", "llem")]
            loader = [os.path.join(libc, "ld-linux-x86-64.so.2"), "--library-path",
                      libc + ":" + os.path.join(out, "lib"), os.path.join(out, "bin", "llem")]
            for how in (plain, loader):
                v = subprocess.run(how + ["--version"], capture_output=True, text=True, env=env)
                self.assertEqual(v.returncode, 0, v.stderr)
                self.assertTrue(v.stdout.startswith("llem "), v.stdout)
                # The data files resolve from the bundle (a dry run loads the
                # built-in dataset).
                cfg = os.path.join(SOURCE, "examples", "quickstart.yaml")
                dr = subprocess.run(how + ["run", cfg, "--dry-run", "-q", "--user-config", ""],
                                    capture_output=True, text=True, env=env)
                self.assertEqual(dr.returncode, 0, dr.stdout + dr.stderr)
            # gpu-check run through the bundle's own loader, end to end.
            if has_fake_nvml():
                res = os.path.join(d, "res")
                r = gpu_check(["run", "--bundle", out, "--launcher", "bundled-loader",
                               "--backend", "native", "--model", "synthetic/tiny-llama",
                               "--precision", "fp32", "--batch-sizes", "2",
                               "--baseline-s", "0", "--n-warmup", "1", "--window-s", "1",
                               "--min-window-s", "0.5", "--max-input-tokens", "16",
                               "--max-output-tokens", "4", "--out", res],
                              clean_env(LLEM_NVML_LIBRARY=fake_nvml()))
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("llem via bundled-loader", r.stdout)
                name = [f for f in os.listdir(res) if f.endswith(".json")][0]
                with open(os.path.join(res, name), encoding="utf-8") as f:
                    doc = json.load(f)
                row = doc["runs"][0]
                self.assertEqual(row["status"], "ok")
                self.assertIsNotNone(row["counter_energy_j"])
                self.assertIsNone(row["baseline_power_w"])
                self.assertEqual(row["null_reasons"]["baseline_power_w"], "baseline disabled")
                self.assertEqual(doc["software"]["llem_launcher"], "bundled-loader")
            if man["rpath"]:
                ldd = subprocess.run(["ldd", plain[0]], capture_output=True, text=True).stdout
                self.assertIn(os.path.join(out, "bin", "..", "lib", "libfyaml.so.0"), ldd)
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
