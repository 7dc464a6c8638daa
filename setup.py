"""Build of the optional C extension; everything else is in pyproject.toml.

``stream.contract._native`` speeds up the batch parse (native/fastparse.c). It is
optional: without a C compiler the install still succeeds and the pure-Python parse
(the reference) runs instead; the worker logs one line saying so.
``stream.core.sketch._native`` (native/sketchscan.c) is the one-pass numeric sketch
update; without it the vectorised numpy update (the reference) runs, same bytes.
``stream.core.sketch._codec`` (native/sketchcodec.c) writes the sketch wire format's
varints, exact sums and bucket stores; without it the Python encoders run, same bytes.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "stream.contract._native",
            sources=["native/fastparse.c"],
            depends=["native/scan.h"],
            extra_compile_args=["-O2", "-std=c99", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        ),
        Extension(
            "stream.core.sketch._native",
            sources=["native/sketchscan.c"],
            extra_compile_args=["-O2", "-std=gnu99", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        ),
        Extension(
            "stream.core.sketch._codec",
            sources=["native/sketchcodec.c"],
            extra_compile_args=["-O2", "-std=gnu99", "-Wall", "-Wextra", "-Wno-unused-parameter"],
            optional=True,
        ),
    ]
)
