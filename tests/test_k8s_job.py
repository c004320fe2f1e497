"""examples/k8s-indexed-job.yaml: a Kubernetes Indexed Job whose pods run `make grade` with
`--shard K/N`. The file must parse as a Job of that kind, and the shell its pods run, given
each completion index Kubernetes hands out, must select shares (booktools.grade's own shard
selection) that cover every submission of a class exactly once, for N = 1..7 pods.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from booktools.grade import _parse_shard, _shard

from .conftest import ROOT

JOB = ROOT / "examples" / "k8s-indexed-job.yaml"
#: stands in for make: prints the GRADE_FLAGS the pod would pass to the grader
FAKE_MAKE = ('make() { for a in "$@"; do case "$a" in GRADE_FLAGS=*) printf "%s\\n" '
             '"${a#GRADE_FLAGS=}";; esac; done; }; ')


@pytest.fixture(scope="module")
def job() -> dict:
    return yaml.safe_load(JOB.read_text())


def _container(job):
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def test_it_is_an_indexed_job_with_one_pod_per_shard(job):
    assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job"
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    env = {e["name"]: e["value"] for e in _container(job)["env"]}
    assert int(env["SHARDS"]) == spec["completions"] >= spec["parallelism"] >= 1
    script = _container(job)["args"][0]
    assert "JOB_COMPLETION_INDEX" in script and "make -o .venv/.installed grade" in script


def flags_of_pod(script: str, index: int, shards: int) -> list[str]:
    """The grader's options in the pod of completion index ``index`` (bash runs the pod's
    own command line, with make replaced by a function that prints GRADE_FLAGS)."""
    out = subprocess.run(["bash", "-c", FAKE_MAKE + script], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "JOB_COMPLETION_INDEX": str(index),
                              "SHARDS": str(shards)}, check=True).stdout
    (line,) = out.splitlines()
    return shlex.split(line)


@pytest.mark.parametrize("shards", range(1, 8))
def test_the_pods_shares_cover_the_class_exactly_once(job, shards):
    script = _container(job)["args"][0]
    names = sorted(Path(f"student{i:03d}_05_linear_layer.ipynb") for i in range(23))
    seen, outs = [], set()
    for index in range(shards):  # Kubernetes: 0 .. completions - 1
        flags = flags_of_pod(script, index, shards)
        k, n = _parse_shard(flags[flags.index("--shard") + 1])
        assert (k, n) == (index + 1, shards)
        seen += _shard(names, (k, n))
        outs.add(flags[flags.index("--out") + 1])
    assert sorted(seen) == names and len(seen) == len(names)
    assert len(outs) == shards  # one CSV per pod: none overwrites another
