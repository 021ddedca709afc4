"""llem_run_study from a program built against an installed llem (cmake
--install into a scratch prefix): examples/run_study.c runs a tiny study
whose workers are the prefix's bin/llem, found next to the installed
libllem with no LLEM_EXE and no llem on PATH; LLEM_EXE pointing nowhere is
a clear error."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from llemtest import SOURCE, clean_env

BUILD = os.environ.get("LLEM_BUILD_DIR", "")

STUDY = """name: api-example
model: synthetic/tiny-llama
n: 2
max_input_tokens: 16
max_output_tokens: 4
decoder: {preset: deterministic, min_new_tokens: 4}
warmup: {enabled: false, thermal_floor_seconds: 0}
baseline: {enabled: false}
energy: {backend: null}
output_dir: %(out)s
sweep:
  native.batch_size: [1, 2]
execution: {n_cycles: 1, cycle_order: sequential, experiment_gap_seconds: 0,
            cycle_gap_seconds: 0}
"""


class StudyApiInstalled(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.prefix = tempfile.mkdtemp(prefix="llem-study-api-")
        subprocess.run(["cmake", "--install", BUILD, "--prefix", cls.prefix],
                       check=True, capture_output=True, text=True)
        cls.libdir = next(os.path.join(cls.prefix, d)
                          for d in ("lib", "lib64", "lib/x86_64-linux-gnu")
                          if os.path.isfile(os.path.join(cls.prefix, d, "libllem.a")))
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(cls.libdir, "pkgconfig"))
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "llem"], env=env,
                               check=True, capture_output=True, text=True).stdout.split()
        with open(os.path.join(BUILD, "CMakeCache.txt"), encoding="utf-8") as f:
            sanitize = "LLEM_SANITIZE:BOOL=ON" in f.read()
        extra = ["-fsanitize=address,undefined"] if sanitize else []
        cls.exe = os.path.join(cls.prefix, "run_study")
        cc = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
                            + extra + [os.path.join(SOURCE, "examples", "run_study.c"),
                                       "-o", cls.exe] + flags,
                            capture_output=True, text=True)
        cls.cc_error = cc.stderr if cc.returncode else None

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.prefix)

    def env(self, **extra):
        env = clean_env(LD_LIBRARY_PATH=self.libdir, **extra)
        env.pop("LLEM_EXE", None)
        # No llem on PATH: the installed one must be found beside libllem.
        env["PATH"] = "/usr/bin:/bin"
        env.update(extra)
        return env

    def write_study(self):
        out = os.path.join(self.prefix, "results")
        path = os.path.join(self.prefix, "study.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(STUDY % {"out": out})
        return path, out

    def test_example_runs_a_study_with_the_installed_llem(self):
        self.assertIsNone(self.cc_error, self.cc_error)
        path, out = self.write_study()
        r = subprocess.run([self.exe, path], capture_output=True, text=True,
                           env=self.env(), timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        study_dir = r.stdout.strip()
        self.assertEqual(os.path.dirname(study_dir), out)
        self.assertIn("2/2 completed, 0 failed", r.stderr)
        self.assertEqual(r.stderr.count("done in"), 2)
        with open(os.path.join(study_dir, "manifest.json"), encoding="utf-8") as f:
            m = json.load(f)
        self.assertEqual((m["status"], m["completed"], m["total_experiments"]),
                         ("completed", 2, 2))
        for e in m["experiments"]:
            with open(os.path.join(study_dir, e["result_file"]), encoding="utf-8") as f:
                self.assertEqual(json.load(f)["config_hash"], e["config_hash"])

    def test_llem_exe_pointing_nowhere_is_an_error(self):
        self.assertIsNone(self.cc_error, self.cc_error)
        path, out = self.write_study()
        r = subprocess.run([self.exe, path], capture_output=True, text=True,
                           env=self.env(LLEM_EXE="/nonexistent/llem"), timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/llem", r.stderr)
        self.assertIn("LLEM_EXE", r.stderr)


if __name__ == "__main__":
    unittest.main()
