"""Reads what llem's table writers produce with independent readers:
pyarrow and DuckDB for Parquet, Python's csv module and pyarrow.csv for
CSV. The table_sample tool writes one table of every column type (with
NaN payloads, infinities, signed zeros, unicode, quotes and newlines in
strings, several null patterns) and a JSON sidecar of exactly what it
wrote; every value read back must equal it, bit for bit for floats.
"""
import csv
import json
import math
import os
import struct
import subprocess
import tempfile
import unittest

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

TOOL = os.path.join(os.environ.get("LLEM_TOOLS_DIR", ""), "table_sample")

ARROW_TYPES = {
    "int32": pa.int32(), "int64": pa.int64(), "double": pa.float64(),
    "float": pa.float32(), "bool": pa.bool_(), "string": pa.string(),
}
DUCKDB_TYPES = {
    "int32": ("INT32", None), "int64": ("INT64", None),
    "double": ("DOUBLE", None), "float": ("FLOAT", None),
    "bool": ("BOOLEAN", None), "string": ("BYTE_ARRAY", "UTF8"),
}
# Bit patterns are compared through same-width unsigned views, which keep
# NaN payloads (a trip through a Python float could quiet a signalling NaN).
BITS_VIEW = {"double": (pa.uint64(), "<d", "<Q"), "float": (pa.uint32(), "<f", "<I")}


def write_sample(nrows, outdir):
    proc = subprocess.run([TOOL, str(nrows), outdir], capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"table_sample {nrows} failed: {proc.stderr}")
    with open(os.path.join(outdir, "t.json"), encoding="utf-8") as f:
        return json.load(f)


def real(col, v):
    """The sidecar's hex bit pattern as a Python float."""
    _, fmt, ufmt = BITS_VIEW[col["type"]]
    return struct.unpack(fmt, struct.pack(ufmt, int(v, 16)))[0]


def expected_stats(col):
    """(null_count, min, max) as pyarrow reports them; None: no min/max."""
    vals = [v for v in col["values"] if v is not None]
    nulls = len(col["values"]) - len(vals)
    if col["type"] in BITS_VIEW:
        vals = [x for x in (real(col, v) for v in vals) if not math.isnan(x)]
    if not vals:
        return nulls, None
    lo, hi = min(vals), max(vals)
    if col["type"] == "string":
        # llem leaves out min/max strings over 1024 bytes
        if max(len(lo.encode()), len(hi.encode())) > 1024:
            return nulls, None
    return nulls, (lo, hi)


def bits_equal_or_both_nan(col, got, want_hex):
    """For readers that hand back Python floats (payloads may be lost)."""
    want = real(col, want_hex)
    if math.isnan(want):
        return got is not None and math.isnan(got)
    _, fmt, _ = BITS_VIEW[col["type"]]
    return got is not None and struct.pack(fmt, got) == struct.pack(fmt, want)


@unittest.skipUnless(os.path.exists(TOOL), "LLEM_TOOLS_DIR/table_sample not built")
class TableReaders(unittest.TestCase):
    SIZES = (0, 1, 20, 100000)

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="llem-table-")
        cls.samples = {}
        for n in cls.SIZES:
            d = os.path.join(cls.tmp.name, str(n))
            os.mkdir(d)
            cls.samples[n] = (d, write_sample(n, d))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def assert_column_values(self, col, arr, where):
        """arr: a pyarrow array read from a file; compares every row."""
        if col["type"] in BITS_VIEW:
            view, _, _ = BITS_VIEW[col["type"]]
            got = arr.view(view).to_pylist()
            want = [None if v is None else int(v, 16) for v in col["values"]]
        else:
            got = arr.to_pylist()
            want = col["values"]
        self.assertEqual(len(got), len(want), where)
        for i, (g, w) in enumerate(zip(got, want)):
            if g != w:
                self.fail(f"{where}: column {col['name']!r} row {i}: "
                          f"read {g!r}, wrote {w!r}")

    def test_pyarrow_reads_every_value_and_type(self):
        for n, (d, side) in self.samples.items():
            path = os.path.join(d, "t.parquet")
            table = pq.read_table(path)
            self.assertEqual(table.num_rows, n)
            self.assertEqual(table.column_names, [c["name"] for c in side["columns"]])
            for col in side["columns"]:
                field = table.schema.field(col["name"])
                self.assertEqual(field.type, ARROW_TYPES[col["type"]], col["name"])
                self.assertEqual(field.nullable, col["nullable"], col["name"])
                arr = table.column(col["name"]).combine_chunks()
                self.assert_column_values(col, arr, f"{n} rows, pyarrow")

    def test_footer_metadata_and_created_by(self):
        for n, (d, side) in self.samples.items():
            md = pq.read_metadata(os.path.join(d, "t.parquet"))
            self.assertEqual(md.num_rows, n)
            self.assertEqual(md.num_row_groups, 1 if n else 0)
            self.assertEqual(md.format_version, "1.0")
            self.assertTrue(md.created_by.startswith("llem version "), md.created_by)
            # a key written without a value reads back as an empty value
            want = {k.encode(): (v or "").encode() for k, v in side["metadata"].items()}
            self.assertEqual(md.metadata, want)
            self.assertEqual(md.metadata[b"llem.config_hash"], b"0123456789abcdef")

    def test_statistics(self):
        for n, (d, side) in self.samples.items():
            if n == 0:
                continue
            rg = pq.read_metadata(os.path.join(d, "t.parquet")).row_group(0)
            for i, col in enumerate(side["columns"]):
                st = rg.column(i).statistics
                where = f"{n} rows, column {col['name']!r}"
                nulls, minmax = expected_stats(col)
                self.assertIsNotNone(st, where)
                self.assertEqual(st.null_count, nulls, where)
                self.assertEqual(rg.column(i).num_values, n, where)
                self.assertEqual(st.has_min_max, minmax is not None, where)
                if minmax is None:
                    continue
                self.assertEqual((st.min, st.max), minmax, where)
                if col["type"] in BITS_VIEW and st.min == 0:
                    self.assertEqual(math.copysign(1, st.min), -1, where)
                if col["type"] in BITS_VIEW and st.max == 0:
                    self.assertEqual(math.copysign(1, st.max), 1, where)

    def test_duckdb_agrees(self):
        con = duckdb.connect()
        for n, (d, side) in self.samples.items():
            path = os.path.join(d, "t.parquet")
            schema = con.execute(
                "SELECT name, type, repetition_type, converted_type "
                "FROM parquet_schema(?)", [path]).fetchall()[1:]
            want = [(c["name"], *DUCKDB_TYPES[c["type"]][:1],
                     "OPTIONAL" if c["nullable"] else "REQUIRED",
                     DUCKDB_TYPES[c["type"]][1]) for c in side["columns"]]
            self.assertEqual(schema, want)
            rows = con.execute("SELECT * FROM read_parquet(?)", [path]).fetchall()
            self.assertEqual(len(rows), n)
            for j, col in enumerate(side["columns"]):
                for i, row in enumerate(rows):
                    got, w = row[j], col["values"][i]
                    if w is None or col["type"] not in BITS_VIEW:
                        ok = got == w and type(got) is type(w)
                    else:
                        ok = bits_equal_or_both_nan(col, got, w)
                    if not ok:
                        self.fail(f"{n} rows, duckdb: column {col['name']!r} "
                                  f"row {i}: read {got!r}, wrote {w!r}")

    def test_csv_module_reads_the_same_values(self):
        for n, (d, side) in self.samples.items():
            with open(os.path.join(d, "t.csv"), encoding="utf-8", newline="") as f:
                rows = list(csv.reader(f))
            cols = side["columns"]
            self.assertEqual(rows[0], [c["name"] for c in cols])
            self.assertEqual(len(rows), n + 1)
            for i, row in enumerate(rows[1:]):
                self.assertEqual(len(row), len(cols))
                for col, text in zip(cols, row):
                    w = col["values"][i]
                    where = f"{n} rows, csv: column {col['name']!r} row {i}"
                    if w is None:
                        self.assertEqual(text, "", where)
                    elif col["type"] in BITS_VIEW:
                        self.assertTrue(bits_equal_or_both_nan(col, float(text), w),
                                        f"{where}: {text!r} vs {w}")
                    elif col["type"] == "bool":
                        self.assertEqual(text, "true" if w else "false", where)
                    else:
                        self.assertEqual(text, str(w), where)

    def test_pyarrow_csv_matches_parquet(self):
        """With "" as an empty string and an empty field as null, the CSV
        holds the same table as the Parquet file (NaN payloads aside)."""
        for n, (d, side) in self.samples.items():
            cols = side["columns"]
            table = pacsv.read_csv(
                os.path.join(d, "t.csv"),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={c["name"]: ARROW_TYPES[c["type"]] for c in cols},
                    null_values=[""], strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    true_values=["true"], false_values=["false"]))
            self.assertEqual(table.num_rows, n)
            for col in cols:
                got = table.column(col["name"]).to_pylist()
                for i, (g, w) in enumerate(zip(got, col["values"])):
                    if w is not None and col["type"] in BITS_VIEW:
                        ok = bits_equal_or_both_nan(col, g, w)
                    else:
                        ok = g == w
                    if not ok:
                        self.fail(f"{n} rows, pyarrow.csv: column {col['name']!r} "
                                  f"row {i}: read {g!r}, wrote {w!r}")

    def test_missing_directory_fails_and_leaves_nothing(self):
        missing = os.path.join(self.tmp.name, "no", "such")
        proc = subprocess.run([TOOL, "3", missing], capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("table_sample: ", proc.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp.name, "no")))


if __name__ == "__main__":
    unittest.main()
