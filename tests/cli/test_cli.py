"""End-to-end tests of the llem command line: exit codes, help, version,
`llem config` with and without a (fake) NVML, dry runs, overrides and
their precedence, the config hash, and the documented config errors."""
import glob
import hashlib
import json
import os
import pty
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from llemtest import DATA, FAKE_NVML_DIR, LLEM, SOURCE, clean_env, run

EXAMPLES = os.path.join(SOURCE, "examples")
INVALID = os.path.join(DATA, "invalid")


def write(dirpath, name, text):
    path = os.path.join(dirpath, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def dry_json(args, env=None):
    r = run(["run"] + args + ["--dry-run", "--json"], env=env)
    if r.returncode != 0:
        raise AssertionError(f"exit {r.returncode}: {r.stderr}")
    return json.loads(r.stdout)


class VersionAndHelp(unittest.TestCase):
    def test_version(self):
        r = run(["--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^llem \d+\.\d+\.\d+\n$")

    def test_version_verbose_has_build_info(self):
        r = run(["--version", "-v"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"build: commit \S+, \w+, ")
        self.assertIn("libfyaml", r.stdout)

    def test_help_lists_commands(self):
        r = run(["--help"])
        self.assertEqual(r.returncode, 0)
        for cmd in ("run", "config"):
            self.assertRegex(r.stdout, rf"\n  {cmd} ")

    def test_every_command_has_help(self):
        for cmd in ("run", "config"):
            r = run([cmd, "--help"])
            self.assertEqual(r.returncode, 0, cmd)
            self.assertTrue(r.stdout.startswith(f"usage: llem {cmd}"), r.stdout)

    def test_no_command_is_a_usage_error(self):
        r = run([])
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: llem", r.stderr)

    def test_unknown_command_suggests(self):
        r = run(["rnu"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("llem: error: 'rnu' is not a llem command", r.stderr)
        self.assertIn("hint: did you mean 'llem run'?", r.stderr)

    def test_unknown_option(self):
        r = run(["run", "--bogus"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option '--bogus'", r.stderr)

    def test_run_needs_config_or_model(self):
        r = run(["run"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("provide a config file or --model", r.stderr)


class Config(unittest.TestCase):
    def test_without_nvml_says_no_gpu_and_exits_0(self):
        env = clean_env(LLEM_NVML_LIBRARY="/nonexistent/libnvidia-ml.so.1")
        env.pop("LD_LIBRARY_PATH", None)
        r = run(["config"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("No GPU detected", r.stdout)
        for section in ("CPU\n", "GPU\n", "CPU energy (RAPL", "Backends\n", "Config\n"):
            self.assertIn(section, r.stdout)

    def test_with_fake_nvml_through_the_real_dlopen_path(self):
        env = clean_env(LD_LIBRARY_PATH=FAKE_NVML_DIR, FAKE_NVML_GPUS="2",
                        FAKE_NVML_NAME="Fake H100", FAKE_NVML_MEMORY_MB="81559",
                        FAKE_NVML_DRIVER="550.54.15", FAKE_NVML_CUDA="12040")
        r = run(["config", "-v"], env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("  0  Fake H100  79.6 GiB", r.stdout)
        self.assertIn("  1  Fake H100", r.stdout)
        self.assertIn("Driver 550.54.15, CUDA 12.4", r.stdout)
        self.assertIn(os.path.join(FAKE_NVML_DIR, "libnvidia-ml.so.1"), r.stdout)

    def test_nvml_init_failure_is_reported_not_fatal(self):
        env = clean_env(LD_LIBRARY_PATH=FAKE_NVML_DIR, FAKE_NVML_INIT_FAIL="1")
        r = run(["config"], env=env)
        self.assertEqual(r.returncode, 0)
        self.assertIn("No GPU detected (nvmlInit failed: Unknown Error)", r.stdout)

    def test_rapl_zones_and_the_fix_for_unreadable_counters(self):
        root = tempfile.mkdtemp()
        for zone, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0/intel-rapl:0:0", "dram")):
            os.makedirs(os.path.join(root, zone))
            write(os.path.join(root, zone), "name", name + "\n")
            write(os.path.join(root, zone), "max_energy_range_uj", "262143328850\n")
        write(os.path.join(root, "intel-rapl:0"), "energy_uj", "12345\n")
        # Root can read mode-0000 files, so an unreadable counter is a directory.
        os.makedirs(os.path.join(root, "intel-rapl:0/intel-rapl:0:0/energy_uj"))
        r = run(["config", "--rapl-root", root])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"package-0\s+intel-rapl:0\s+readable")
        self.assertRegex(r.stdout, r"dram\s+intel-rapl:0:0\s+not readable")
        self.assertIn(f"fix: sudo chmod o+r {root}/intel-rapl:*/energy_uj", r.stdout)
        shutil.rmtree(root)

    def test_no_rapl(self):
        root = tempfile.mkdtemp()
        r = run(["config", "--rapl-root", root])
        self.assertEqual(r.returncode, 0)
        self.assertIn("No RAPL zones found", r.stdout)

    def test_user_config_status(self):
        env = clean_env()
        r = run(["config"], env=env)
        self.assertIn(os.path.join(env["XDG_CONFIG_HOME"], "llem", "config.yaml"), r.stdout)
        self.assertIn("using defaults (no config file)", r.stdout)
        os.makedirs(os.path.join(env["XDG_CONFIG_HOME"], "llem"))
        path = write(os.path.join(env["XDG_CONFIG_HOME"], "llem"), "config.yaml",
                     "output_dir: /tmp/my-results\nenergy: {sample_interval_ms: 50}\n")
        r = run(["config", "-v"], env=env)
        self.assertEqual(r.returncode, 0)
        self.assertIn("Status  loaded", r.stdout)
        self.assertIn("output_dir: /tmp/my-results", r.stdout)
        write(os.path.dirname(path), "config.yaml", "outptu_dir: x\n")
        r = run(["config"], env=env)
        self.assertEqual(r.returncode, 0)
        self.assertIn("Status  invalid (1 error", r.stdout)
        self.assertIn(f"{path}:1:1: outptu_dir: unknown key, did you mean 'output_dir'?", r.stderr)

    def test_fields_lists_every_key(self):
        r = run(["config", "--fields"])
        self.assertEqual(r.returncode, 0)
        for key in ("model", "native.batch_size", "decoder.top_p", "execution.n_cycles",
                    "pytorch.load_in_4bit", "energy.sample_interval_ms"):
            self.assertRegex(r.stdout, rf"(?m)^{re.escape(key)} ")
        self.assertIn("decoder.top_p                          number   default: 1.0  [0.0 .. 1.0]",
                      r.stdout)

    def test_generated_reference_is_in_sync(self):
        r = run(["config", "--fields", "--format=markdown"])
        self.assertEqual(r.returncode, 0)
        with open(os.path.join(SOURCE, "docs", "config-reference.md"), encoding="utf-8") as f:
            self.assertEqual(r.stdout, f.read(),
                             "docs/config-reference.md is stale: run 'make docs'")


class DryRun(unittest.TestCase):
    def test_quickstart(self):
        r = run(["run", os.path.join(EXAMPLES, "quickstart.yaml"), "--dry-run"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("  Model       synthetic/smollm-135m\n", r.stdout)
        self.assertIn("  Dataset     aienergyscore (10 of 1000 prompts)\n", r.stdout)
        self.assertIn("  Batch size  4\n", r.stdout)
        self.assertIn("Config valid.", r.stdout)

    def test_every_example_validates(self):
        examples = sorted(glob.glob(os.path.join(EXAMPLES, "*.yaml")))
        self.assertGreaterEqual(len(examples), 2)
        for path in examples:
            with self.subTest(example=os.path.basename(path)):
                r = run(["run", path, "--dry-run"])
                self.assertEqual(r.returncode, 0, r.stderr)

    def test_study_with_a_missing_dataset_names_the_point(self):
        """The dry run stops at the first point whose dataset cannot be
        read, names it, and leaks nothing (LeakSanitizer found 64 bytes
        here once: issue 11 item 10; the sanitizer build runs this too)."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "study.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write("name: s\nmodel: synthetic/tiny-llama\n"
                        f"dataset: {d}/missing.jsonl\nsweep: {{n: [1, 2]}}\n")
            r = run(["run", path, "--dry-run"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr.splitlines(), [
            f"llem: error: dataset: dataset file '{d}/missing.jsonl' does not exist",
            "llem: error: in study point 1 (n=1)"])

    def test_unwritable_output_dir_stops_before_measuring(self):
        """Issue 11 item 7: results that cannot be saved are found before
        the measurement, not after it (this run would wait 60 s to settle
        before measuring; the error comes at once, and nothing is left)."""
        with tempfile.TemporaryDirectory() as d:
            blocker = os.path.join(d, "a-file")
            with open(blocker, "w", encoding="utf-8") as f:
                f.write("not a directory\n")
            path = os.path.join(d, "exp.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write("model: synthetic/tiny-llama\nn: 2\nmax_input_tokens: 16\n"
                        "max_output_tokens: 4\nwarmup: {thermal_floor_seconds: 60}\n"
                        f"energy: {{backend: null}}\noutput_dir: {blocker}/results\n")
            t0 = time.monotonic()
            r = run(["run", path], timeout=50)
            self.assertLess(time.monotonic() - t0, 30)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("llem: error: results cannot be saved, so nothing was measured: "
                          f"cannot create directory '{blocker}/results': Not a directory",
                          r.stderr)
            self.assertEqual(sorted(os.listdir(d)), ["a-file", "exp.yaml"])

    def test_phases_are_shown_on_a_terminal(self):
        """llem_run_options.phase reaches the CLI: on a terminal each phase
        of the experiment is announced, with its planned length."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "exp.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write("model: synthetic/tiny-llama\nn: 2\nmax_input_tokens: 16\n"
                        "max_output_tokens: 4\nwarmup: {n_warmup: 1, thermal_floor_seconds: 0}"
                        f"\nenergy: {{backend: null}}\noutput_dir: {d}/results\n")
            master, slave = pty.openpty()
            try:
                r = subprocess.run([LLEM, "run", path], stdout=subprocess.PIPE, stderr=slave,
                                   env=clean_env(), timeout=120)
                os.close(slave)
                seen = b""
                while True:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    seen += chunk
            finally:
                os.close(master)
        self.assertEqual(r.returncode, 0, seen)
        text = seen.decode().replace("\r\n", "\n")
        self.assertIn("  load...\n", text)
        self.assertIn("  warmup...\n", text)
        self.assertIn("  measure...\n", text)
        self.assertLess(text.index("  load..."), text.index("  measure..."))

    def test_run_help_lists_every_exit_code(self):
        r = run(["run", "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Exit codes: 0 ok, 1 run failed, 2 usage or config error, 3 a study "
                      "finished\nwith failed experiments, 130 interrupted.\n", r.stdout)

    def test_huge_bad_values_are_elided_in_errors(self):
        """A 100 kB bad value gives a short message, not 100 kB on stderr."""
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "big.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write("model: synthetic/tiny-llama\nprecision: " + "x" * 100000 + "\n")
            r = run(["run", path, "--dry-run"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertLess(len(r.stderr), 2000)
        self.assertIn("big.yaml:2:12: precision: must be one of fp32, fp16, bf16, got 'xxx",
                      r.stderr)
        self.assertRegex(r.stderr, r"x \.\.\. \[\d+ bytes elided\] \.\.\. x+'\n")

    def test_dry_run_executes_nothing_unless_asked(self):
        """A config names its interpreter (pytorch.python); a dry run of a
        config from someone else must not run it (issue 11 item 5). With
        --preflight it runs the checks that execute programs, as a real
        run's preflight does."""
        with tempfile.TemporaryDirectory() as d:
            marker = os.path.join(d, "executed")
            fake = os.path.join(d, "python3")
            with open(fake, "w", encoding="utf-8") as f:
                f.write(f"#!/bin/sh\necho ran > {marker}\nexit 1\n")
            os.chmod(fake, 0o755)
            path = os.path.join(d, "exp.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write("model: synthetic/tiny-llama\nbackend: pytorch\nprecision: fp32\n"
                        f"pytorch: {{python: {fake}}}\n")
            r = run(["run", path, "--dry-run"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Config valid.", r.stdout)
            self.assertFalse(os.path.exists(marker), "the dry run ran pytorch.python")
            r = run(["run", path, "--dry-run", "--preflight"])
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertTrue(os.path.exists(marker), "--preflight did not run the check")
            self.assertIn("preflight failed: 1 problem", r.stderr)
            r = run(["run", path, "--preflight"])
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("--preflight goes with --dry-run", r.stderr)

    def test_study_grid(self):
        d = dry_json([os.path.join(EXAMPLES, "batch-sweep.yaml")])
        labels = [e["label"] for e in d["experiments"]]
        # Per-backend grid, last key fastest, then the explicit entry.
        self.assertEqual(labels, [
            "precision=fp32, native.batch_size=1", "precision=fp32, native.batch_size=4",
            "precision=fp32, native.batch_size=16", "precision=bf16, native.batch_size=1",
            "precision=bf16, native.batch_size=4", "precision=bf16, native.batch_size=16",
            "precision=fp32, native.quantization=int8"])
        self.assertEqual(d["n_cycles"], 3)
        self.assertEqual(d["total_runs"], 21)
        batch = [e["config"]["native"]["batch_size"] for e in d["experiments"]]
        self.assertEqual(batch, [1, 4, 16, 1, 4, 16, 1])

    def test_too_many_prompts(self):
        r = run(["run", "--model", "synthetic/smollm-135m", "-n", "1001", "--dry-run"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("has only 1000 prompts but 1001 were requested", r.stderr)

    def test_custom_jsonl_dataset(self):
        d = tempfile.mkdtemp()
        path = write(d, "p.jsonl", '{"text": "a"}\n{"prompt": "b"}\n')
        r = run(["run", "--model", "synthetic/tiny-llama", "-d", path, "-n", "2", "--dry-run"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{path} (2 of 2 prompts)", r.stdout)


class OverridesAndPrecedence(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.env = clean_env()
        os.makedirs(os.path.join(self.env["XDG_CONFIG_HOME"], "llem"))

    def user_config(self, text):
        write(os.path.join(self.env["XDG_CONFIG_HOME"], "llem"), "config.yaml", text)

    def test_cli_beats_file_beats_user_config_beats_default(self):
        self.user_config("n: 7\nmax_output_tokens: 99\nprecision: fp16\n"
                         "decoder: {top_k: 3}\n")
        path = write(self.dir, "e.yaml", "model: synthetic/tiny-llama\nn: 20\nprecision: fp32\n")
        cfg = dry_json([path, "-n", "5"], env=self.env)["config"]
        self.assertEqual(cfg["n"], 5)                    # command line
        self.assertEqual(cfg["precision"], "fp32")       # file
        self.assertEqual(cfg["max_output_tokens"], 99)   # user config
        self.assertEqual(cfg["decoder"]["top_k"], 3)     # user config
        self.assertEqual(cfg["max_input_tokens"], 512)   # default

    def test_user_section_for_another_backend_is_ignored(self):
        self.user_config("pytorch: {batch_size: 4}\nnative: {threads: 2}\n")
        cfg = dry_json(["--model", "synthetic/tiny-llama"], env=self.env)["config"]
        self.assertIsNone(cfg["pytorch"])
        self.assertEqual(cfg["native"]["threads"], 2)

    def test_invalid_user_config_stops_a_run(self):
        self.user_config("n: -3\n")
        r = run(["run", "--model", "synthetic/tiny-llama", "--dry-run"], env=self.env)
        self.assertEqual(r.returncode, 2)
        self.assertIn("config.yaml:1:4: n: must be at least 1", r.stderr)

    def test_named_overrides(self):
        d = dry_json(["--model", "synthetic/tinyllama-1.1b", "-b", "native", "-p", "fp16",
                      "--batch-size", "8", "-o", "/tmp/out", "--set", "decoder.top_k=0",
                      "--set", "energy.backend=null"])
        cfg = d["config"]
        self.assertEqual(cfg["model"], "synthetic/tinyllama-1.1b")
        self.assertEqual(cfg["precision"], "fp16")
        self.assertEqual(cfg["native"]["batch_size"], 8)
        self.assertEqual(cfg["decoder"]["top_k"], 0)
        self.assertIsNone(cfg["energy"]["backend"])
        self.assertEqual(d["output_dir"], "/tmp/out")

    def test_batch_size_follows_the_files_backend(self):
        path = write(self.dir, "p.yaml", "model: synthetic/tiny-llama\nbackend: pytorch\n")
        cfg = dry_json([path, "--batch-size", "16"])["config"]
        self.assertEqual(cfg["pytorch"]["batch_size"], 16)
        self.assertIsNone(cfg["native"])

    def test_batch_size_for_a_backend_without_one(self):
        r = run(["run", "--model", "synthetic/tiny-llama", "-b", "vllm", "-p", "fp16", "--batch-size", "8",
                 "--dry-run"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("--batch-size: backend 'vllm' has no batch_size setting", r.stderr)

    def test_bad_set(self):
        r = run(["run", "--model", "synthetic/tiny-llama", "--set", "native.threds=2", "--set", "n=abc",
                 "--set", "oops", "--dry-run"])
        self.assertEqual(r.returncode, 2)
        lines = r.stderr.splitlines()
        self.assertIn("command line: native.threds: unknown key, did you mean 'native.threads'?", lines)
        self.assertIn("command line: n: expected an integer, got a string", lines)
        self.assertIn("command line: 'oops' is not a key=value assignment", lines)
        self.assertEqual(lines[-1], "llem: error: invalid configuration: 3 errors")

    def test_model_with_yaml_special_characters_stays_a_string(self):
        model = os.path.join(self.dir, "dir: with #odd 'chars'")
        os.makedirs(model)
        with open(os.path.join(SOURCE, "data", "synthetic-presets.json"), encoding="utf-8") as f:
            arch = json.load(f)["tiny-llama"]
        write(model, "config.json", json.dumps(arch))
        write(model, "model.safetensors", "")
        cfg = dry_json(["--model", model, "--set", "native.tokenizer=byte"])["config"]
        self.assertEqual(cfg["model"], model)


class ConfigHash(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def test_hash_is_sha256_of_python_canonical_json(self):
        d = dry_json([os.path.join(EXAMPLES, "quickstart.yaml")])
        text = json.dumps(d["config"], sort_keys=True)
        self.assertEqual(hashlib.sha256(text.encode()).hexdigest()[:16], d["config_hash"])

    def test_study_hashes_match_python(self):
        d = dry_json([os.path.join(EXAMPLES, "batch-sweep.yaml")])
        for e in d["experiments"]:
            text = json.dumps(e["config"], sort_keys=True)
            self.assertEqual(hashlib.sha256(text.encode()).hexdigest()[:16], e["config_hash"])
        design = json.dumps([e["config"] for e in d["experiments"]], sort_keys=True)
        self.assertEqual(hashlib.sha256(design.encode()).hexdigest()[:16], d["study_design_hash"])

    def test_golden_canonical_form_and_hash(self):
        # A change here changes every published hash: update deliberately
        # and say so in docs/config-hash.md.
        d = dry_json(["--model", "synthetic/smollm-135m"])
        with open(os.path.join(DATA, "golden", "canonical-smollm-defaults.json"), encoding="utf-8") as f:
            golden = f.read().rstrip("\n")
        self.assertEqual(json.dumps(d["config"], sort_keys=True), golden)
        self.assertEqual(d["config_hash"], "04e8aa5820a2a31e")

    def test_key_order_and_spelling_of_numbers_do_not_matter(self):
        a = write(self.dir, "a.yaml", "model: synthetic/tiny-llama\nn: 10\ndecoder: {temperature: 1, top_p: 0.50}\n")
        b = write(self.dir, "b.json", '{"decoder": {"top_p": 5e-1, "temperature": 1.0}, "n": 10, "model": "synthetic/tiny-llama"}')
        self.assertEqual(dry_json([a])["config_hash"], dry_json([b])["config_hash"])

    def test_output_dir_is_not_hashed_but_measurement_fields_are(self):
        base = dry_json(["--model", "synthetic/tiny-llama"])["config_hash"]
        self.assertEqual(dry_json(["--model", "synthetic/tiny-llama", "-o", "elsewhere"])["config_hash"], base)
        self.assertNotEqual(dry_json(["--model", "synthetic/tiny-llama", "-n", "99"])["config_hash"], base)
        self.assertNotEqual(dry_json(["--model", "synthetic/tiny-llama", "--set", "native.threads=1"])["config_hash"], base)


class DocumentedErrors(unittest.TestCase):
    """Every invalid example gives exactly its .expected output, exit 2,
    and each position points at the key or value it names."""

    def test_each_invalid_example(self):
        files = sorted(glob.glob(os.path.join(INVALID, "*.yaml")) +
                       glob.glob(os.path.join(INVALID, "*.json")))
        self.assertGreaterEqual(len(files), 15)
        for path in files:
            name = os.path.basename(path)
            with self.subTest(file=name):
                r = run(["run", name, "--dry-run"], cwd=INVALID)
                self.assertEqual(r.returncode, 2)
                self.assertEqual(r.stdout, "")
                with open(os.path.splitext(path)[0] + ".expected", encoding="utf-8") as f:
                    self.assertEqual(r.stderr, f.read())

    def test_positions_point_at_the_named_key_or_value(self):
        """Positions checked against PyYAML's own node marks: each error
        must sit on the key it names, on its value, or inside that value."""
        pattern = re.compile(r"^([^:]+):(\d+):(\d+): ([\w.]+): ")
        checked = 0
        for expected in sorted(glob.glob(os.path.join(INVALID, "*.expected"))):
            with open(expected, encoding="utf-8") as f:
                lines = f.read().splitlines()
            for line in lines:
                m = pattern.match(line)
                if not m:
                    continue
                src, row, col, path = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
                marks = yaml_marks(os.path.join(INVALID, src))
                allowed = set()
                for dotted, places in marks.items():
                    if dotted == path or dotted.endswith("." + path):
                        allowed |= places
                with self.subTest(line=line):
                    self.assertIn((row, col), allowed)
                checked += 1
        self.assertGreaterEqual(checked, 40)


def yaml_marks(path):
    """{dotted key path: {(line, col) of the key, its value, and every node
    inside the value}}, 1-based, from PyYAML's composer."""
    import yaml

    with open(path, encoding="utf-8") as f:
        root = yaml.compose(f, Loader=yaml.BaseLoader)
    out = {}

    def inside(node):
        yield (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                yield from inside(k)
                yield from inside(v)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                yield from inside(item)

    def walk(node, prefix):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                dotted = f"{prefix}.{k.value}" if prefix else k.value
                out.setdefault(dotted, set()).update(inside(k))
                out[dotted].update(inside(v))
                walk(v, dotted)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item, prefix)

    walk(root, "")
    return out


if __name__ == "__main__":
    unittest.main()
