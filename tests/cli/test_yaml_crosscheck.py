"""Cross-checks llem's YAML loader against PyYAML on a corpus.

Every file in tests/data/yaml/valid must give the same tree in both (all
scalars compared as text, PyYAML's BaseLoader view); every file in
invalid/ must be rejected by both. stricter/ holds what llem rejects on
purpose although PyYAML accepts it (duplicate keys, merge keys, tags), and
differs/ the one known disagreement of the two parsers' YAML versions.
"""
import glob
import json
import os
import unittest

import yaml

from llemtest import DATA, run

CORPUS = os.path.join(DATA, "yaml")


def pyyaml_tree(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=yaml.BaseLoader)


def llem_tree(path):
    r = run([path], tool="yaml_dump")
    return r


class YamlCrossCheck(unittest.TestCase):
    def files(self, sub):
        found = sorted(glob.glob(os.path.join(CORPUS, sub, "*.yaml")))
        self.assertTrue(found, f"no corpus files in {sub}")
        return found

    def test_valid_files_give_identical_trees(self):
        for path in self.files("valid"):
            with self.subTest(file=os.path.basename(path)):
                r = llem_tree(path)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(json.loads(r.stdout), pyyaml_tree(path))

    def test_invalid_files_are_rejected_by_both_with_a_position(self):
        for path in self.files("invalid"):
            with self.subTest(file=os.path.basename(path)):
                with self.assertRaises(yaml.YAMLError):
                    pyyaml_tree(path)
                r = llem_tree(path)
                self.assertEqual(r.returncode, 1)
                first = r.stderr.splitlines()[0]
                # "path:line:col: message" with a real line number
                rest = first[len(path) + 1:]
                line, col, _ = rest.split(":", 2)
                self.assertGreaterEqual(int(line), 1, first)
                self.assertGreaterEqual(int(col), 1, first)

    def test_stricter_files_are_accepted_by_pyyaml_and_rejected_by_llem(self):
        expected = {
            "01-duplicate-key.yaml": ":3:1: duplicate key 'model' (first at line 1, column 1)",
            "02-merge-key.yaml": ":3:3: merge keys (<<) are not supported",
            "03-unknown-tag.yaml": ":1:16: YAML tag '!custom' is not supported",
            "04-nested-duplicate.yaml": ":3:3: duplicate key 'top_k' (first at line 2, column 3)",
        }
        files = self.files("stricter")
        self.assertEqual(sorted(expected), [os.path.basename(f) for f in files])
        for path in files:
            with self.subTest(file=os.path.basename(path)):
                pyyaml_tree(path)  # must not raise
                r = llem_tree(path)
                self.assertEqual(r.returncode, 1)
                self.assertEqual(r.stderr.splitlines()[0],
                                 path + expected[os.path.basename(path)])

    def test_known_difference_tab_in_plain_continuation(self):
        # YAML 1.2 (libfyaml) allows a tab as separation inside a plain
        # scalar's continuation line; PyYAML (YAML 1.1) does not.
        path = os.path.join(CORPUS, "differs", "01-tab-in-plain-continuation.yaml")
        with self.assertRaises(yaml.YAMLError):
            pyyaml_tree(path)
        r = llem_tree(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"key": "value - tab"})


if __name__ == "__main__":
    unittest.main()
