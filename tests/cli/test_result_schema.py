"""Checks result.json against independent references: docs/result.schema.json
(validated with the jsonschema package), Python's json module (values and
layout), and the C reader itself (the result_sample tool). The schema must
accept what C writes and reject what C's reader rejects; every number in
the file must equal, bit for bit, the value C set.
"""
import copy
import json
import math
import os
import struct
import subprocess
import tempfile
import unittest

import jsonschema

TOOLS_DIR = os.environ.get("LLEM_TOOLS_DIR", "")
SOURCE_DIR = os.environ.get("LLEM_SOURCE_DIR",
                            os.path.join(os.path.dirname(__file__), "..", ".."))
TOOL = os.path.join(TOOLS_DIR, "result_sample")
SCHEMA_PATH = os.path.join(SOURCE_DIR, "docs", "result.schema.json")
DOC_PATH = os.path.join(SOURCE_DIR, "docs", "results.md")


def run_tool(*args, ok=True):
    proc = subprocess.run([TOOL, *args], capture_output=True, text=True,
                          timeout=60)
    if ok and proc.returncode != 0:
        raise AssertionError(f"result_sample {args} failed: {proc.stderr}")
    return proc


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def pointer_get(doc, pointer):
    """Resolves a JSON pointer ("/energy/devices/0/energy_j")."""
    node = doc
    for part in pointer.split("/")[1:]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def walk(node, pointer=""):
    """Yields (pointer, value) for every scalar in the document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, pointer + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, pointer + "/" + str(i))
    else:
        yield pointer, node


def bits(x):
    return struct.pack("<d", x)


def python_layout(doc):
    """What C must write: json.dumps(indent=2, ensure_ascii=False) + newline."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


class ResultSchemaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(TOOL):
            raise unittest.SkipTest(f"{TOOL} not built")
        cls.tmp = tempfile.TemporaryDirectory(prefix="llem-result-schema-")
        cls.dir = cls.tmp.name
        cls.full = os.path.join(cls.dir, "full.json")
        cls.values = os.path.join(cls.dir, "values.json")
        cls.minimal = os.path.join(cls.dir, "minimal.json")
        run_tool(cls.full, cls.values)
        run_tool("--minimal", cls.minimal)
        with open(SCHEMA_PATH, encoding="utf-8") as f:
            cls.schema = json.load(f)
        cls.validator = jsonschema.Draft202012Validator(cls.schema)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def errors(self, doc):
        return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in self.validator.iter_errors(doc)]

    def c_accepts(self, doc, name):
        path = self.path(name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        proc = run_tool("--check", path, ok=False)
        # 1 is a clean rejection; anything else (a sanitizer report) is a bug.
        self.assertIn(proc.returncode, (0, 1), proc.stderr)
        self.assertNotIn("Sanitizer", proc.stderr)
        return proc.returncode == 0, proc.stderr

    def test_schema_is_valid_draft_2020_12(self):
        jsonschema.Draft202012Validator.check_schema(self.schema)
        self.assertEqual(self.schema["$schema"],
                         "https://json-schema.org/draft/2020-12/schema")

    def test_schema_is_as_strict_as_the_reader(self):
        """Every object lists all its keys as required and allows no others,
        as the C reader does; so no key can be silently added or dropped.
        (The allOf conditions are constraints, not object definitions.)"""
        def check(node, where):
            if isinstance(node, dict):
                types = node.get("type", [])
                is_object = "object" in (types if isinstance(types, list) else [types])
                if is_object and "properties" not in node:
                    # Free-form only where the content is not ours to fix.
                    self.assertTrue(where == "#/properties/effective_config"
                                    or where.startswith("#/allOf/"), where)
                elif is_object:
                    self.assertEqual(set(node.get("required", [])),
                                     set(node["properties"]), where)
                    self.assertIs(node.get("additionalProperties"), False, where)
                for k, v in node.items():
                    check(v, f"{where}/{k}")
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    check(v, f"{where}/{i}")
        check(self.schema, "#")

    def test_samples_validate(self):
        for path in (self.full, self.minimal):
            with self.subTest(path=os.path.basename(path)):
                self.assertEqual(self.errors(read_json(path)), [])

    def test_schema_and_reader_reject_broken_files(self):
        full = read_json(self.full)
        minimal = read_json(self.minimal)

        def drop(doc, ptr):
            parent, key = ptr.rsplit("/", 1)
            node = pointer_get(doc, parent) if parent else doc
            del node[int(key) if isinstance(node, list) else key]

        def setp(doc, ptr, value):
            parent, key = ptr.rsplit("/", 1)
            node = pointer_get(doc, parent) if parent else doc
            node[int(key) if isinstance(node, list) else key] = value

        cases = [
            ("missing root key", full, lambda d: drop(d, "/duration_s")),
            ("missing nested key", full, lambda d: drop(d, "/energy/devices/1/method")),
            ("missing stats key", full, lambda d: drop(d, "/latency/ttft_ms/p99")),
            ("string in number", full, lambda d: setp(d, "/energy/total_energy_j", "228.04")),
            ("string in nullable number", full, lambda d: setp(d, "/latency/itl_ms/p95", "13.1")),
            ("string in count", full, lambda d: setp(d, "/tokens/output_tokens", "640")),
            ("negative count", full, lambda d: setp(d, "/tokens/requests", -1)),
            ("null in required count", full, lambda d: setp(d, "/tokens/input_tokens", None)),
            ("number in string", full, lambda d: setp(d, "/model", 7)),
            ("bool as number", full, lambda d: setp(d, "/thermal/power", 0)),
            ("unknown root key", full, lambda d: setp(d, "/extra", 1)),
            ("unknown nested key", full, lambda d: setp(d, "/environment/nvml/gpus/0/clock_mhz", 1)),
            ("bad enum", full, lambda d: setp(d, "/energy/devices/0/source", "zeus")),
            ("bad baseline method", full, lambda d: setp(d, "/energy/baseline/method", "stale")),
            ("bad config_hash", full, lambda d: setp(d, "/config_hash", "0123456789ABCDEF")),
            ("short config_hash", full, lambda d: setp(d, "/config_hash", "0123")),
            ("timestamp without Z", full, lambda d: setp(d, "/start_time", "2026-03-13T14:21:11")),
            ("timestamp with offset", full, lambda d: setp(d, "/end_time", "2026-03-13T14:21:11+00:00")),
            ("other schema_version", full, lambda d: setp(d, "/schema_version", "2.0")),
            ("energy and reason", full, lambda d: setp(d, "/energy_null_reason", "x")),
            ("no energy, no reason", minimal, lambda d: setp(d, "/energy_null_reason", None)),
            ("window with total", minimal,
             lambda d: setp(d, "/steady_state_window", {"start_s": 0.0, "end_s": 1.0})),
            ("no window with steady_state", full, lambda d: setp(d, "/steady_state_window", None)),
            ("string warning list", full, lambda d: setp(d, "/warnings", "oops")),
            ("config as array", full, lambda d: setp(d, "/effective_config", [1])),
            ("energy as number", minimal, lambda d: setp(d, "/energy", 0.0)),
            ("energy without devices", full, lambda d: setp(d, "/energy/devices", [])),
            ("empty device name", full, lambda d: setp(d, "/energy/devices/0/device", "")),
            ("empty null reason", minimal, lambda d: setp(d, "/energy_null_reason", "")),
        ]
        for i, (name, base, mutate) in enumerate(cases):
            with self.subTest(case=name):
                doc = copy.deepcopy(base)
                mutate(doc)
                self.assertNotEqual(self.errors(doc), [], "schema accepted it")
                accepted, _ = self.c_accepts(doc, f"broken{i}.json")
                self.assertFalse(accepted, "the C reader accepted it")
        # The untouched documents pass both, so the rejections mean something.
        for doc in (full, minimal):
            self.assertEqual(self.c_accepts(doc, "ok.json"), (True, ""))

    def test_reader_message_names_file_and_path(self):
        doc = read_json(self.full)
        doc["energy"]["devices"][0]["energy_jj"] = 1.0
        path = self.path("typo.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        proc = run_tool("--check", path, ok=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(f"{path}: energy.devices[0].energy_jj: unknown key "
                      "(did you mean 'energy_j'?)", proc.stderr)

    def test_every_number_is_the_value_c_set(self):
        """The tool lists what it set as C hex floats ("%a") and decimal
        integers; every number in the file must be one of them, exactly."""
        doc = read_json(self.full)
        values = read_json(self.values)
        doubles = {p: float.fromhex(h) for p, h in values["doubles"].items()}
        ints = {p: int(v) for p, v in values["ints"].items()}
        self.assertGreater(len(doubles), 60)
        seen = set()
        for ptr, v in walk(doc):
            if isinstance(v, bool) or v is None or isinstance(v, str):
                continue
            seen.add(ptr)
            if isinstance(v, float):
                self.assertIn(ptr, doubles, f"float at {ptr} was not set by C")
                self.assertEqual(bits(v), bits(doubles[ptr]),
                                 f"{ptr}: {v!r} != {doubles[ptr]!r}")
            else:
                self.assertIsInstance(v, int)
                self.assertIn(ptr, ints, f"integer at {ptr} was not set by C")
                self.assertEqual(v, ints[ptr], ptr)
        # And every value C set is in the file (nothing dropped).
        self.assertEqual(set(doubles) | set(ints), seen)
        # The awkward ones, spelled out.
        self.assertEqual(doc["throughput"]["output_tokens_per_s"], 5e-324)
        self.assertEqual(doc["throughput"]["total_tokens_per_s"], 1.7976931348623157e308)
        self.assertEqual(doc["steady_state_window"]["end_s"], 123456789.123456789)
        self.assertEqual(doc["throughput"]["requests_per_s"], 0.1 + 0.2)
        self.assertEqual(doc["inference_time_s"], 1e-7)
        self.assertEqual(math.copysign(1.0, doc["energy"]["devices"][0]["energy_adjusted_j"]), -1.0)
        self.assertEqual(doc["tokens"]["input_tokens"], 2**53 + 1)
        self.assertEqual(doc["model_info"]["weights_bytes"], 2**63 - 1)

    def test_layout_is_python_json_dumps(self):
        for path in (self.full, self.minimal):
            with self.subTest(path=os.path.basename(path)):
                text = read_text(path)
                self.assertEqual(text, python_layout(json.loads(text)))

    def test_read_then_write_reproduces_bytes(self):
        for src in (self.full, self.minimal):
            with self.subTest(path=os.path.basename(src)):
                out = self.path("rt_" + os.path.basename(src))
                run_tool("--roundtrip", src, out)
                with open(src, "rb") as a, open(out, "rb") as b:
                    self.assertEqual(a.read(), b.read())

    def test_python_edited_file_is_read_exactly(self):
        """A file Python wrote (another layout, ASCII escapes, new values)
        is read to the same values: C's output parses back equal to what
        Python wrote, in Python's own indent=2 layout."""
        doc = read_json(self.full)
        doc["duration_s"] = 1 / 3
        doc["energy"]["total_energy_j"] = 2.0**-1074 * 3
        doc["energy"]["devices"][0]["energy_j"] = 1e300 * 1.5
        doc["latency"]["itl_ms"]["p99"] = 0.1 + 0.7
        doc["latency"]["itl_ms"]["mean"] = 7  # an integer in a number field
        doc["tokens"]["input_tokens"] = 2**62 + 12345
        doc["tokens"]["total_tokens"] = 2**62 + 12345 + doc["tokens"]["output_tokens"]
        doc["model"] = "mod\u00e8le/\u65e5\u672c\U0001F680\x1b"
        doc["warnings"] = ["a\u2028b", "\ttab", "q\"uote\\"]
        doc["effective_config"] = {"b": [1.5e-10, {"\u00e9": None}], "a": 10**18}
        src = self.path("python.json")
        with open(src, "w", encoding="ascii") as f:
            json.dump(doc, f, ensure_ascii=True, indent=None, separators=(",", ":"))
        out = self.path("python_rt.json")
        run_tool("--roundtrip", src, out)
        text = read_text(out)
        back = json.loads(text)
        want = copy.deepcopy(doc)
        want["latency"]["itl_ms"]["mean"] = 7.0  # read into a double
        self.assertEqual(back, want)
        self.assertIsInstance(back["latency"]["itl_ms"]["mean"], float)
        self.assertEqual(bits(back["energy"]["total_energy_j"]), bits(2.0**-1074 * 3))
        self.assertEqual(back["tokens"]["input_tokens"], 2**62 + 12345)
        self.assertEqual(text, python_layout(want))
        self.assertEqual(self.errors(back), [])

    def test_every_field_is_documented(self):
        """docs/results.md names every key of the schema."""
        doc = read_text(DOC_PATH)
        missing = set()

        def collect(node):
            if isinstance(node, dict):
                for k in node.get("properties", {}):
                    if f"`{k}`" not in doc:
                        missing.add(k)
                for v in node.values():
                    collect(v)
            elif isinstance(node, list):
                for v in node:
                    collect(v)
        collect(self.schema)
        self.assertEqual(missing, set())


if __name__ == "__main__":
    unittest.main()
