"""`make install` layout: cmake --install into a scratch prefix, then use
what was installed the way a user would: the binary finds its dataset
from the prefix, pkg-config finds libllem, and a C program built from
examples/config_hash.c against the installed header and library gives
the same hash as the llem binary."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from llemtest import SOURCE, clean_env, run

BUILD = os.environ.get("LLEM_BUILD_DIR", "")


class Install(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.prefix = tempfile.mkdtemp(prefix="llem-install-")
        subprocess.run(["cmake", "--install", BUILD, "--prefix", cls.prefix],
                       check=True, capture_output=True, text=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.prefix)

    def path(self, *parts):
        return os.path.join(self.prefix, *parts)

    def test_files_are_installed(self):
        for rel in ("bin/llem", "include/llem/llem.h", "share/llem/datasets/aienergyscore.jsonl",
                    "share/man/man1/llem.1", "share/doc/llem/LICENSE", "share/doc/llem/NOTICE"):
            self.assertTrue(os.path.isfile(self.path(rel)), rel)
        libdir = [d for d in ("lib", "lib64", "lib/x86_64-linux-gnu") if
                  os.path.isfile(self.path(d, "libllem.a"))]
        self.assertEqual(len(libdir), 1)
        self.libdir = self.path(libdir[0])
        self.assertTrue(os.path.islink(os.path.join(self.libdir, "libllem.so")))
        self.assertTrue(os.path.isfile(os.path.join(self.libdir, "pkgconfig", "llem.pc")))

    def test_installed_binary_uses_the_installed_dataset(self):
        data = self.path("share/llem/datasets/aienergyscore.jsonl")
        with open(data, encoding="utf-8") as f:
            lines = f.readlines()
        self.assertEqual(len(lines), 1001)
        exe = self.path("bin/llem")
        r = subprocess.run([exe, "run", "--model", "synthetic/tiny-llama", "-n", "3", "--dry-run"],
                           capture_output=True, text=True, env=clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("aienergyscore (3 of 1000 prompts)", r.stdout)
        # Cut the installed copy to 5 prompts: the count proves which file
        # the installed binary read (the source tree still has 1000).
        with open(data, "w", encoding="utf-8") as f:
            f.writelines(lines[:6])
        try:
            r = subprocess.run([exe, "run", "--model", "synthetic/tiny-llama", "-n", "3", "--dry-run"],
                               capture_output=True, text=True, env=clean_env())
            self.assertIn("aienergyscore (3 of 5 prompts)", r.stdout)
        finally:
            with open(data, "w", encoding="utf-8") as f:
                f.writelines(lines)

    def test_c_program_against_installed_library(self):
        libdir = next(self.path(d) for d in ("lib", "lib64", "lib/x86_64-linux-gnu")
                      if os.path.isfile(self.path(d, "libllem.a")))
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"))
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "llem"], env=env,
                               check=True, capture_output=True, text=True).stdout.split()
        includes = [os.path.realpath(f[2:]) for f in flags if f.startswith("-I")]
        # Its own include dir first (openblas may add its own after it).
        self.assertEqual(includes[0], os.path.realpath(self.path("include")))
        exe = os.path.join(self.prefix, "config_hash")
        # A sanitizer build's libllem needs the program built the same way.
        with open(os.path.join(BUILD, "CMakeCache.txt"), encoding="utf-8") as f:
            sanitize = "LLEM_SANITIZE:BOOL=ON" in f.read()
        extra = ["-fsanitize=address,undefined"] if sanitize else []
        cc = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror"] + extra +
                            [os.path.join(SOURCE, "examples", "config_hash.c"), "-o", exe]
                            + flags, capture_output=True, text=True)
        self.assertEqual(cc.returncode, 0, cc.stderr)
        quickstart = os.path.join(SOURCE, "examples", "quickstart.yaml")
        r = subprocess.run([exe, quickstart], capture_output=True, text=True,
                           env=dict(clean_env(), LD_LIBRARY_PATH=libdir))
        self.assertEqual(r.returncode, 0, r.stderr)
        want = json.loads(run(["run", quickstart, "--dry-run", "--json"]).stdout)["config_hash"]
        self.assertEqual(r.stdout, f"llem 0.1.0: experiment {want}\n")
        # llem_run_experiment from a program built against the install.
        runner = os.path.join(self.prefix, "run_experiment")
        cc = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror"] + extra +
                            [os.path.join(SOURCE, "examples", "run_experiment.c"), "-o", runner]
                            + flags, capture_output=True, text=True)
        self.assertEqual(cc.returncode, 0, cc.stderr)
        cfg = os.path.join(self.prefix, "tiny.yaml")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write("model: synthetic/tiny-llama\nn: 3\nmax_output_tokens: 4\n"
                    "decoder: {preset: deterministic, min_new_tokens: 4}\n"
                    "warmup: {enabled: false, thermal_floor_seconds: 0}\n"
                    "baseline: {enabled: false}\nenergy: {backend: null}\n"
                    f"output_dir: {self.prefix}/results\n")
        r = subprocess.run([runner, cfg], capture_output=True, text=True,
                           env=dict(clean_env(), LD_LIBRARY_PATH=libdir,
                                    LLEM_NVML_LIBRARY="/nonexistent"))
        self.assertEqual(r.returncode, 0, r.stderr)
        res = json.loads(r.stdout)
        self.assertEqual(res["tokens"]["output_tokens"], 12)
        self.assertIsNone(res["energy"])
        self.assertEqual(res["energy_null_reason"], "energy measurement disabled (energy.backend: null)")
        saved = r.stderr.strip().split("saved in ", 1)[1]
        self.assertTrue(os.path.isfile(os.path.join(saved, "result.json")))
        bad = subprocess.run([exe, os.path.join(SOURCE, "tests/data/invalid/bad-enums.yaml")],
                             capture_output=True, text=True,
                             env=dict(clean_env(), LD_LIBRARY_PATH=libdir))
        self.assertEqual(bad.returncode, 2)
        self.assertIn("backend: must be one of native, pytorch, vllm, tensorrt, got 'pytorh'",
                      bad.stderr)


if __name__ == "__main__":
    unittest.main()
