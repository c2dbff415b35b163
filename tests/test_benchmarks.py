"""The benchmark scripts run (their timings are printed, never asserted: a test cannot know the machine)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"

# script -> (the quickest arguments, what its report must contain)
QUICK = {
    "bench_nn.py": (["--repeats", "1"], ["ours / torch", "textbook / ours", "saved for backward", "fold_batchnorm"]),
    "bench_scratch.py": (["--repeats", "1"], ["forward+backward", "(256, 1024)"]),
    "bench_fused.py": (["--shapes", "60x100", "--threads", "1", "--repeats", "1", "--allocators", "default"],
                       ["compiled/nat", "of limit", "copy bandwidth", "(60, 100)"]),
    "bench_step_cost.py": (["--steps", "5", "--repeats", "1"], ["step with bnlearn BN / plain step",
                                                                "step with torch BN / plain step"]),
}


def test_every_benchmark_script_is_exercised_here():
    assert sorted(QUICK) == sorted(p.name for p in BENCH.glob("bench_*.py"))


@pytest.mark.parametrize("script", sorted(QUICK))
def test_benchmark_runs_and_reports(script):
    args, expected = QUICK[script]
    done = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    for text in expected:
        assert text in done.stdout, f"{script} did not report {text!r}:\n{done.stdout}"
