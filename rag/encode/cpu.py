"""What this CPU can do, read at run time: machines of one kind differ (AMX, AVX-512, AVX2), and
the fastest way to run a model depends on it."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """CPU feature flags of this machine (``/proc/cpuinfo``); empty where they cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


# The features that decide which backend is fastest; benchmarks report them beside their figures.
CPU_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
# Instructions that multiply and add int8 vectors in one step; without them int8 kernels gain nothing.
INT8_DOT_PRODUCT = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def cpu_features() -> list[str]:
    """Which of ``CPU_FEATURES`` this machine has."""
    return [f for f in CPU_FEATURES if f in cpu_flags()]


def has_int8_dot_product(flags: frozenset[str] | None = None) -> bool:
    """Whether the CPU has int8 dot-product instructions (VNNI or AMX)."""
    return bool((cpu_flags() if flags is None else flags) & INT8_DOT_PRODUCT)
