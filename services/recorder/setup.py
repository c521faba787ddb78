"""The recorder's one compiled module: batched RTP reception (see ingest/_rtp_batch.pyx).
Everything else is in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [
            Extension(
                "callscope_recorder.ingest._rtp_batch",
                ["src/callscope_recorder/ingest/_rtp_batch.pyx"],
                define_macros=[("_GNU_SOURCE", "1")],
            )
        ],
        language_level=3,
    )
)
