"""The recorder's one compiled module: batched RTP reception (see ingest/_rtp_batch.pyx).
Everything else is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = cythonize(
    [
        Extension(
            "callscope_recorder.ingest._rtp_batch",
            ["src/callscope_recorder/ingest/_rtp_batch.pyx"],
            define_macros=[("_GNU_SOURCE", "1")],
        )
    ],
    language_level=3,
)
for extension in extensions:
    # No compiler: install anyway; the recorder falls back to per-packet RTP reception.
    # (Set here: cythonize does not carry `optional` over.)
    extension.optional = True

setup(ext_modules=extensions)
