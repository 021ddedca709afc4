"""Numeric ranges in study sweeps ({range: [start, end], step|mul: N}) from
the command line: a dry run lists the expanded values, the hashes of the
points (and of the design) are Python's json.dumps + sha256 of what the
dry run prints, a range hashes like the list it stands for, and a bad
range is a config error with its position (exit 2)."""
import hashlib
import json
import os
import shutil
import tempfile
import unittest

from llemtest import SOURCE, run

STUDY = """name: range-demo
model: synthetic/tiny-llama
max_input_tokens: 64
sweep:
  native.batch_size: {range: [1, 64], mul: 2}
  decoder.temperature:
    range: [0.1, 0.5]
    step: 0.2
"""


def write(dirpath, name, text):
    path = os.path.join(dirpath, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def py_hash(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


class StudyRange(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="llem-range-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def dry(self, path, *extra):
        r = run(["run", path, "--dry-run"] + list(extra))
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def test_dry_run_shows_the_expanded_values(self):
        path = write(self.dir, "study.yaml", STUDY)
        out = self.dry(path).stdout
        self.assertIn("  Experiments  21 valid of 21 (21 from sweep, 0 explicit)\n", out)
        labels = [line.split(None, 2)[2] for line in out.splitlines()
                  if line[:5].strip().isdigit() and "native.batch_size=" in line]
        want = [f"native.batch_size={b}, decoder.temperature={t}"
                for b in (1, 2, 4, 8, 16, 32, 64) for t in ("0.1", "0.3", "0.5")]
        self.assertEqual(labels, want)

    def test_json_values_and_hashes_match_python(self):
        path = write(self.dir, "study.yaml", STUDY)
        d = json.loads(self.dry(path, "--json").stdout)
        configs = [e["config"] for e in d["experiments"]]
        self.assertEqual([c["native"]["batch_size"] for c in configs][::3],
                         [1, 2, 4, 8, 16, 32, 64])
        # Exact decimals, not 0.30000000000000004.
        self.assertEqual([c["decoder"]["temperature"] for c in configs][:3], [0.1, 0.3, 0.5])
        for e in d["experiments"]:
            self.assertEqual(py_hash(e["config"]), e["config_hash"])
        self.assertEqual(py_hash(configs), d["study_design_hash"])

    def test_a_range_hashes_like_its_list(self):
        a = write(self.dir, "a.yaml", STUDY)
        b = write(self.dir, "b.yaml", STUDY.replace(
            "{range: [1, 64], mul: 2}", "[1, 2, 4, 8, 16, 32, 64]").replace(
            "\n    range: [0.1, 0.5]\n    step: 0.2", " [0.1, 0.3, 0.5]"))
        ja = json.loads(self.dry(a, "--json").stdout)
        jb = json.loads(self.dry(b, "--json").stdout)
        self.assertEqual(ja["study_design_hash"], jb["study_design_hash"])
        self.assertEqual([e["config_hash"] for e in ja["experiments"]],
                         [e["config_hash"] for e in jb["experiments"]])

    def test_escaped_strings_in_the_canonical_form_match_python(self):
        # A model path with quotes, a backslash and non-ASCII takes the
        # escaping path of the canonical writer.
        model = os.path.join(self.dir, 'm\u00fcdel "q" \\ \u4e2d')
        os.makedirs(model)
        with open(os.path.join(SOURCE, "data", "synthetic-presets.json"), encoding="utf-8") as f:
            arch = json.load(f)["tiny-llama"]
        write(model, "config.json", json.dumps(arch))
        write(model, "model.safetensors", "")
        path = write(self.dir, "study.yaml",
                     f"model: {json.dumps(model)}\nnative: {{tokenizer: byte}}\n"
                     "sweep:\n  n: {range: [1, 3], step: 1}\n")
        d = json.loads(self.dry(path, "--json").stdout)
        self.assertEqual(len(d["experiments"]), 3)
        for e in d["experiments"]:
            self.assertEqual(e["config"]["model"], model)
            self.assertEqual(py_hash(e["config"]), e["config_hash"])

    def test_a_bad_range_is_a_config_error_with_its_position(self):
        path = write(self.dir, "bad.yaml",
                     "model: synthetic/tiny-llama\nsweep:\n"
                     "  native.batch_size: {range: [64, 1], mul: 2}\n"
                     "  n: {range: [0, 20], step: 5}\n"
                     "  precision: {range: [1, 2], step: 1}\n")
        r = run(["run", "bad.yaml", "--dry-run"], cwd=self.dir)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr.splitlines(), [
            "bad.yaml:3:31: native.batch_size: range start 64 is greater than its end 1",
            "  hint: ranges count upwards: put the smaller value first",
            "bad.yaml:4:15: n: must be at least 1 (allowed: 1 to 1000000000), got 0 (from the range)",
            "bad.yaml:5:15: precision: a range needs a numeric field, and this one is an enum",
            "  hint: list the values instead, e.g. [fp32, fp16]",
            "llem: error: invalid configuration: 3 errors",
        ])


if __name__ == "__main__":
    unittest.main()
