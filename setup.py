"""Builds the codec's compiled core; everything else is in pyproject.toml.

The extension is optional: without a C compiler or the Python headers the
build prints a warning and smsgw runs on the pure-Python codec (the same
results, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "gateway.codec._native",
            sources=["gateway/codec/_native.c"],
            optional=True,
            extra_compile_args=["-O3"],
        )
    ]
)
