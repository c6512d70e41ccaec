"""Build the C core, sysphase._core.

SYSPHASE_SANITIZE=1 builds it with AddressSanitizer and UndefinedBehaviorSanitizer
(the test suite runs once that way in CI, see .ci/run).
"""

import os

from setuptools import Extension, setup

CFLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-missing-field-initializers"]
LDFLAGS: list[str] = []
if os.environ.get("SYSPHASE_SANITIZE"):
    CFLAGS += [
        "-O1",
        "-g",
        "-fno-omit-frame-pointer",
        "-fsanitize=address,undefined",
        "-fno-sanitize-recover=undefined",
    ]
    LDFLAGS += ["-fsanitize=address,undefined"]

setup(
    ext_modules=[
        Extension(
            "sysphase._core",
            sources=sorted(os.path.join("csrc", f) for f in os.listdir("csrc") if f.endswith(".c")),
            depends=["csrc/core.h", "src/sysphase/include/sysphase.h"],
            include_dirs=["src/sysphase/include"],
            extra_compile_args=CFLAGS,
            extra_link_args=LDFLAGS,
        )
    ]
)
