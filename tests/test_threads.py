"""Thread counts from the cores a process may use: affinity, cgroup quota, load."""

from __future__ import annotations

import pytest
import torch

from videovq import threads
from videovq.cli import main
from videovq.errors import InputError


def test_cgroup_quota_is_read_in_cores(tmp_path):
    v2 = tmp_path / "cpu.max"
    v2.write_text("150000 100000\n")
    assert threads.cpu_quota(v2, (tmp_path / "a", tmp_path / "b")) == 1.5
    v2.write_text("max 100000\n")
    assert threads.cpu_quota(v2, (tmp_path / "a", tmp_path / "b")) is None
    quota, period = tmp_path / "quota", tmp_path / "period"
    quota.write_text("50000\n")
    period.write_text("100000\n")
    assert threads.cpu_quota(tmp_path / "none", (quota, period)) == 0.5
    quota.write_text("-1\n")
    assert threads.cpu_quota(tmp_path / "none", (quota, period)) is None


def test_busy_cores_are_left_out(monkeypatch):
    monkeypatch.setattr(threads, "allowed_cores", lambda: 4)
    assert threads.available_cores(load=0.0) == 4
    assert threads.available_cores(load=1.0) == 3
    assert threads.available_cores(load=0.5) == 4  # half a busy core still counts as free
    assert threads.available_cores(load=9.0) == 1  # never fewer than one


def test_busy_cores_come_from_the_cpu_time_of_the_allowed_cpus(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    samples = iter([
        "cpu  1 1 1 1 1 1 1 1\ncpu0 100 0 0 900 0 0 0 0 0 0\ncpu1 0 0 0 1000 0 0 0 0\ncpu2 0 0 0 0 0 0 0 0\nintr 5\n",
        "cpu  2 2 2 2 2 2 2 2\ncpu0 190 0 10 900 0 0 0 0 0 0\ncpu1 25 0 0 1050 25 0 0 0\ncpu2 50 0 0 50 0 0 0 0\nintr 9\n",
    ])  # fmt: skip
    monkeypatch.setattr(threads.time, "sleep", lambda s: stat.write_text(next(samples)))
    stat.write_text(next(samples))
    # cpu0 all busy, cpu1 a quarter busy (iowait counts as idle), cpu2 half busy but not ours
    assert threads.busy_cores({0, 1}, stat=stat) == pytest.approx(1.25)
    assert threads.busy_cores({0}, stat=tmp_path / "missing") is None


def test_a_quota_caps_the_affinity(monkeypatch):
    monkeypatch.setattr(threads, "cpu_quota", lambda: 1.2)
    assert threads.allowed_cores() == min(2, len(__import__("os").sched_getaffinity(0)))


def test_set_threads_applies_and_refuses_nonsense():
    before = torch.get_num_threads()
    try:
        assert threads.set_threads(1) == 1 and torch.get_num_threads() == 1
        with pytest.raises(InputError, match="--threads 0"):
            threads.set_threads(0)
    finally:
        torch.set_num_threads(before)


def test_cli_threads_option_is_checked(tmp_path, capsys):
    rc = main(["inpaint", "x.mp4", "--mask", "m.png", "-o", str(tmp_path / "o.mp4"), "--threads", "-1"])
    assert rc == 2 and "--threads -1" in capsys.readouterr().err
