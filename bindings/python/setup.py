"""The wheel carries libtether.so.0 (native code), so it is tagged for the
platform (py3-none-linux_x86_64 on x86-64 Linux), not `any`. The metadata is
in pyproject.toml; build_wheel.sh (target python_wheel) builds it, or run
`/usr/bin/python3 -m build --wheel --no-isolation` after copying
libtether.so.0 into tether/."""

from setuptools import setup
from setuptools.dist import Distribution


class NativeDistribution(Distribution):
    def has_ext_modules(self) -> bool:
        return True  # the bundled libtether.so.0: platlib, not purelib


try:
    from wheel.bdist_wheel import bdist_wheel

    class PlatformWheel(bdist_wheel):
        def get_tag(self):
            _, _, plat = super().get_tag()
            return "py3", "none", plat  # any Python 3 (ctypes), this platform

    cmdclass = {"bdist_wheel": PlatformWheel}
except ImportError:  # no wheel package: sdist and plain installs still work
    cmdclass = {}

setup(distclass=NativeDistribution, cmdclass=cmdclass)
