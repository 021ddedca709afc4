"""The formatting check: every C file of src/, include/, tests/, bench/ and
examples/ is as clang-format (the version pinned in the Makefile, with the
repository's .clang-format) writes it. `make format` rewrites them.

LLEM_CLANG_FORMAT names the clang-format to run (CMake finds the one
`make pydeps` installs in the build's venv); LLEM_SOURCE_DIR the tree."""
import os
import shutil
import subprocess
import tempfile
import unittest

PINNED = "18.1.8"
FOLDERS = ("src", "include", "tests", "bench", "examples")
ROOT = os.environ.get("LLEM_SOURCE_DIR",
                      os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CLANG_FORMAT = os.environ.get("LLEM_CLANG_FORMAT", "clang-format")


def c_files(root):
    for folder in FOLDERS:
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in sorted(files):
                if name.endswith((".c", ".h")):
                    yield os.path.join(dirpath, name)


def unformatted(root, files):
    """The files clang-format would change, relative to root."""
    style = "--style=file:" + os.path.join(ROOT, ".clang-format")
    bad = []
    for path in files:
        with open(path, "rb") as f:
            original = f.read()
        formatted = subprocess.run([CLANG_FORMAT, style, path], capture_output=True,
                                   check=True).stdout
        if formatted != original:
            bad.append(os.path.relpath(path, root))
    return bad


class Format(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        try:
            version = subprocess.run([CLANG_FORMAT, "--version"], capture_output=True,
                                     text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            raise AssertionError(f"cannot run {CLANG_FORMAT} ({e}); `make pydeps` installs "
                                 f"clang-format=={PINNED} into the build's venv")
        if f"version {PINNED}" not in version:
            raise AssertionError(f"{version.strip()} is not the pinned {PINNED}: versions "
                                 "format differently (`make pydeps` installs the pinned one)")

    def test_every_c_file_is_formatted(self):
        files = list(c_files(ROOT))
        self.assertGreater(len(files), 100)
        bad = unformatted(ROOT, files)
        self.assertEqual(bad, [], "run `make format` and commit the result")

    def test_a_misformatted_file_is_caught(self):
        d = tempfile.mkdtemp(prefix="llem-format-")
        try:
            path = os.path.join(d, "bad.c")
            with open(path, "w") as f:
                f.write("int  main( void ){return 0;}\n")
            self.assertEqual(unformatted(d, [path]), ["bad.c"])
            with open(path, "w") as f:
                f.write("int main(void)\n{\n\treturn 0;\n}\n")
            self.assertEqual(unformatted(d, [path]), [])
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
