"""Cross-checks util's number formatting, number parsing, SHA-256 and JSON
string quoting against Python itself (repr, json.dumps, float, hashlib),
through the numfmt_dump tool. Canonical config JSON and the config hash
promise byte-for-byte agreement with Python, so every case must match.
"""
import hashlib
import json
import math
import os
import random
import struct
import subprocess
import unittest

TOOLS_DIR = os.environ.get("LLEM_TOOLS_DIR", "")
TOOL = os.path.join(TOOLS_DIR, "numfmt_dump")


def run_tool(mode, lines):
    """Feeds one input per line to numfmt_dump and returns its output lines."""
    proc = subprocess.run([TOOL, mode], input="".join(l + "\n" for l in lines),
                          capture_output=True, text=True, encoding="utf-8",
                          timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"numfmt_dump {mode} failed: {proc.stderr}")
    out = proc.stdout.split("\n")
    assert out[-1] == "", "output must end in a newline"
    return out[:-1]


def bits(x):
    return struct.pack("<d", x)


def sample_doubles():
    """About 20,000 doubles: random bit patterns, random decimals at every
    exponent, and the edges where shortest-repr algorithms go wrong."""
    rng = random.Random(1234)
    values = []
    # Random bit patterns, which cover every exponent and subnormals.
    while len(values) < 8000:
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(x):
            values.append(x)
    # Random decimals with 1 to 17 significant digits at each exponent.
    for exp in range(-320, 309):
        for _ in range(10):
            ndig = rng.randint(1, 17)
            digits = str(rng.randrange(10 ** (ndig - 1), 10 ** ndig))
            x = float(f"{'-' if rng.random() < 0.3 else ''}{digits}e{exp - ndig + 1}")
            if math.isfinite(x):
                values.append(x)
    # Every power of two (the rounding interval is lopsided there), and
    # its neighbours.
    for e in range(-1074, 1024):
        p = math.ldexp(1.0, e)
        values.extend([p, math.nextafter(p, 0.0), math.nextafter(p, math.inf)])
    # Around each power of ten and the repr layout switch points.
    for e in range(-325, 309):
        try:
            p = float(f"1e{e}")
        except OverflowError:
            continue
        values.extend([p, math.nextafter(p, 0.0), math.nextafter(p, math.inf)])
    values += [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308,
               2.225073858507201e-308, 1.7976931348623157e308,
               -1.7976931348623157e308, 0.1, 0.2, 0.3, 0.1 + 0.2, 1 / 3,
               2.0 ** 53, 2.0 ** 53 + 2, 2.0 ** 53 - 1, 1e15, 1e16, 9999999999999998.0,
               1e-4, 9.999999999999999e-05, 123456789.0, 1.5e-7, 100.0, 2.5]
    # Plain integers and short decimals, the values configs mostly hold.
    for _ in range(1500):
        values.append(float(rng.randint(-10 ** 9, 10 ** 9)))
        values.append(round(rng.uniform(-1000, 1000), rng.randint(0, 6)))
    return [x for x in values if math.isfinite(x)]


@unittest.skipUnless(os.path.exists(TOOL), "LLEM_TOOLS_DIR/numfmt_dump not built")
class NumfmtMatchesPython(unittest.TestCase):
    def test_numfmt_double_equals_repr(self):
        values = sample_doubles()
        self.assertGreater(len(values), 18000)
        out = run_tool("--numfmt", [x.hex() for x in values])
        self.assertEqual(len(out), len(values))
        bad = [(x, got) for x, got in zip(values, out) if got != repr(x)]
        self.assertEqual(bad[:10], [], f"{len(bad)} of {len(values)} differ")
        # json.dumps writes floats with repr; check that too.
        self.assertEqual(out, [json.dumps(x) for x in values])

    def test_numfmt_non_finite(self):
        out = run_tool("--numfmt", ["inf", "-inf", "nan"])
        self.assertEqual(out, [json.dumps(math.inf), json.dumps(-math.inf),
                               json.dumps(math.nan)])

    def test_parse_double_reads_repr_back(self):
        values = sample_doubles()
        out = run_tool("--parse", [repr(x) for x in values])
        self.assertEqual(len(out), len(values))
        bad = [(x, got) for x, got in zip(values, out)
               if got == "ERR" or bits(float.fromhex(got)) != bits(x)]
        self.assertEqual(bad[:10], [], f"{len(bad)} of {len(values)} differ")

    def test_parse_double_agrees_with_float(self):
        rng = random.Random(99)
        texts = []
        for _ in range(2000):
            mant = str(rng.randrange(1, 10 ** rng.randint(1, 25)))
            dot = rng.randint(0, len(mant))
            texts.append(f"{mant[:dot]}.{mant[dot:]}e{rng.randint(-330, 330)}")
        # float() takes these too, but parse_double must not: it is strict.
        rejects = ["inf", "nan", " 1", "1 ", "1_000", "0x10", "", "1e400",
                   "-1e400", "1e-400", "1.2.3"]
        out = run_tool("--parse", texts + rejects)
        for text, got in zip(texts, out):
            want = float(text)
            # Every mantissa is non-zero: 0.0 here means underflow, and
            # out-of-range values are errors rather than 0 or infinity.
            if not math.isfinite(want) or want == 0:
                self.assertEqual(got, "ERR", text)
            else:
                self.assertNotEqual(got, "ERR", text)
                self.assertEqual(bits(float.fromhex(got)), bits(want), text)
        self.assertEqual(out[len(texts):], ["ERR"] * len(rejects))


@unittest.skipUnless(os.path.exists(TOOL), "LLEM_TOOLS_DIR/numfmt_dump not built")
class Sha256MatchesHashlib(unittest.TestCase):
    def test_random_messages(self):
        rng = random.Random(1234)
        # Every length through four blocks (padding edges at 55, 56, 63,
        # 64, 119, 120, ...), then a few long ones.
        msgs = [bytes(rng.getrandbits(8) for _ in range(n)) for n in range(0, 260)]
        msgs += [rng.randbytes(n) for n in (1000, 4095, 4096, 65537, 300000)]
        out = run_tool("--sha256", [m.hex() for m in msgs])
        self.assertEqual(out, [hashlib.sha256(m).hexdigest() for m in msgs])


@unittest.skipUnless(os.path.exists(TOOL), "LLEM_TOOLS_DIR/numfmt_dump not built")
class JsonQuoteMatchesJsonDumps(unittest.TestCase):
    def random_strings(self):
        rng = random.Random(1234)
        pools = [(1, 0x7F), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF),
                 (0x10000, 0x10FFFF)]
        out = ["", "\x7f", "\"\\/", "\U0001F600", "\U0010FFFF", "\uFFFF"]
        for _ in range(3000):
            chars = []
            for _ in range(rng.randint(1, 12)):
                lo, hi = pools[rng.randrange(len(pools))]
                chars.append(chr(rng.randint(lo, hi)))
            out.append("".join(chars))
        return out

    def test_ensure_ascii(self):
        strings = self.random_strings()
        out = run_tool("--quote", [s.encode("utf-8").hex() for s in strings])
        self.assertEqual(out, [json.dumps(s) for s in strings])

    def test_utf8_kept(self):
        strings = self.random_strings()
        out = run_tool("--quote-utf8", [s.encode("utf-8").hex() for s in strings])
        self.assertEqual(out, [json.dumps(s, ensure_ascii=False) for s in strings])


if __name__ == "__main__":
    unittest.main()
