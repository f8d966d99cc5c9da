"""The worker pool: hard per-job limits, a batch deadline, crashes, order, and reuse."""

from __future__ import annotations

import os
import time

import pytest

from evalkit.verifiers.pool import _CAN_FORK_WORKERS, Job, WorkerPool, get_pool


@pytest.fixture
def pool():
    p = WorkerPool(2)
    yield p
    p.close()


def test_results_come_back_in_input_order(pool):
    jobs = [Job("math:factorial", (n,), cost=-n) for n in range(10)]
    assert [r.value for r in pool.run(jobs)] == [__import__("math").factorial(n) for n in range(10)]


def test_a_job_past_its_limit_is_killed_and_its_worker_replaced(pool):
    t = time.monotonic()
    res = pool.run([Job("time:sleep", (60,)), Job("math:sqrt", (16,))], timeout=0.5)
    assert time.monotonic() - t < 5
    assert res[0].status == "timeout" and res[1].value == 4.0
    assert pool.restarts == 1
    assert pool.run([Job("math:sqrt", (9,))])[0].value == 3.0


def test_a_jobs_own_timeout_overrides_the_batch_limit(pool):
    res = pool.run([Job("time:sleep", (1.0,), timeout=5.0)], timeout=0.2)
    assert res[0].status == "ok"


def test_batch_deadline_times_out_unfinished_and_unstarted_jobs(pool):
    jobs = [Job("time:sleep", (30,), cost=1)] * 4 + [Job("math:sqrt", (4,), cost=0)]
    t = time.monotonic()
    res = pool.run(jobs, timeout=60, deadline=1.0)
    assert time.monotonic() - t < 5
    assert res[4].status == "ok"  # cheapest first: it ran before the sleepers
    assert [r.status for r in res[:4]] == ["timeout"] * 4
    assert any("before it started" in r.detail for r in res[:4])


def test_a_crash_and_an_exception_are_reported_not_raised(pool):
    res = pool.run([Job("os:_exit", (3,)), Job("math:sqrt", (-1,)), Job("no.such.module:f")])
    assert res[0].status == "crash" and "exit code 3" in res[0].detail
    assert res[1].status == "raised" and "ValueError" in res[1].detail
    assert res[2].status == "raised" and "ModuleNotFoundError" in res[2].detail


@pytest.mark.skipif(not _CAN_FORK_WORKERS, reason="workers are forked from a zygote only with fork and pidfds (Linux)")
def test_preload_modules_are_imported_once_per_pool(tmp_path, monkeypatch):
    (tmp_path / "preload_probe.py").write_text("import os\nopen(os.environ['PROBE_LOG'], 'a').write('imported\\n')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("PROBE_LOG", str(tmp_path / "log"))
    p = WorkerPool(2, preload=("preload_probe",))
    try:
        res = p.run([Job("time:sleep", (0.3,)), Job("time:sleep", (0.3,)), Job("math:sqrt", (9,))])
        assert [r.status for r in res] == ["ok"] * 3 and res[2].value == 3.0
        assert len(p._workers) == 2
        assert (tmp_path / "log").read_text() == "imported\n"  # two workers, one import
    finally:
        p.close()


def test_memory_limit_stops_a_runaway_job():
    p = WorkerPool(1, memory_mb=512)
    try:
        res = p.run([Job("os:urandom", (2 * 1024**3,))], timeout=20)
        assert res[0].status in ("raised", "crash")
    finally:
        p.close()


def test_get_pool_is_shared_and_rebuilt_after_fork():
    a = get_pool("test-shared")
    assert get_pool("test-shared") is a
    pid = os.fork()
    if pid == 0:  # the child must not reuse its parent's workers
        os._exit(0 if get_pool("test-shared") is not a else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_worker_replaced_at_the_end_of_a_batch_serves_the_next_one_however_late(pool, monkeypatch):
    # a GRPO step whose answer timed out replaces its worker; the next step comes minutes later
    import evalkit.verifiers.pool as pool_module

    monkeypatch.setattr(pool_module, "STARTUP_LIMIT", 2.0)
    pool.size = 1
    assert pool.run([Job("time:sleep", (60,))], timeout=0.3)[0].status == "timeout"
    time.sleep(3.0)  # longer than the start-up limit: the new worker's `ready` waits unread
    assert [(r.status, r.value) for r in pool.run([Job("math:sqrt", (16,))])] == [("ok", 4.0)]
    # warm_up before loading the model: the workers said ready long before the first batch
    pool.close()
    pool.start()
    time.sleep(3.0)
    assert [(r.status, r.value) for r in pool.run([Job("math:sqrt", (9,))])] == [("ok", 3.0)]


def test_a_worker_that_never_starts_is_dropped_even_with_short_batch_deadlines(tmp_path, monkeypatch):
    # the rewards path asks with a 10 s deadline; a worker hung in its imports must end as `infra`
    # (unjudged), not as `timeout` (scored 0) batch after batch
    import evalkit.verifiers.pool as pool_module

    (tmp_path / "hangs_on_import.py").write_text("import time\ntime.sleep(3600)\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setattr(pool_module, "STARTUP_LIMIT", 2.0)
    p = WorkerPool(1, preload=("hangs_on_import",))
    try:
        statuses = [p.run([Job("math:sqrt", (4,))], timeout=1.0, deadline=1.0)[0].status for _ in range(4)]
    finally:
        p.close()
    assert statuses == ["infra"] * 4  # no worker ever ready: each batch's deadline passed while it was starting


def test_a_deadline_that_passes_while_the_workers_start_leaves_the_answers_unjudged(tmp_path, monkeypatch):
    # a trainer's first reward call starts the pool (5 s with torch imported): answers no worker could take
    # are an infrastructure fault (unjudged), never `timeout` (scored 0 as if the answer were at fault)
    (tmp_path / "slow_import.py").write_text("import time\ntime.sleep(2)\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    p = WorkerPool(1, preload=("slow_import",))
    try:
        first = p.run([Job("math:sqrt", (4,))], timeout=5.0, deadline=0.5)[0]
        time.sleep(3.0)
        later = p.run([Job("math:sqrt", (4,)), Job("time:sleep", (30,), cost=9)], timeout=60, deadline=1.5)
    finally:
        p.close()
    assert first.status == "infra" and "still starting" in first.detail, first
    assert [r.status for r in later] == ["ok", "timeout"]  # a ready pool's slow answer is still the answer's


def test_a_batch_whose_deadline_has_passed_on_a_warm_pool_times_out(pool):
    # the math verifier passes what is left of its deadline, which may be 0: the jobs were never sent, but
    # ready workers were there to take them, so they are `timeout`, not a pool still starting
    assert pool.run([Job("math:sqrt", (4,))])[0].status == "ok"
    assert [r.status for r in pool.run([Job("math:sqrt", (4,))] * 2, timeout=5, deadline=0.0)] == ["timeout"] * 2


def test_workers_that_cannot_start_say_why():
    # a worker that could not import math-verify (not installed yet) left samples unjudged with only "verifier worker
    # failed to start (exit code 1)": its stderr is quiet, and the cause showed only under EVALKIT_WORKER_STDERR=1
    p = WorkerPool(1, preload=("evalkit_no_such_module",))
    try:
        [r] = p.run([Job("builtins:len", ("abc",))], timeout=30)
    finally:
        p.close()
    assert r.status == "infra", r
    assert r.detail.startswith("verifier worker failed to start (exit code ") and \
        r.detail.endswith("ModuleNotFoundError: No module named 'evalkit_no_such_module'"), r.detail


def test_the_reason_workers_cannot_start_is_asked_once_and_within_the_batch_deadline(tmp_path, monkeypatch):
    # asking a fresh interpreter why took its whole import again, past the batch's deadline, for every failed batch
    (tmp_path / "evalkit_slow_fail.py").write_text("import time\ntime.sleep(3)\nraise ImportError('slow failure')\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    p = WorkerPool(1, preload=("evalkit_slow_fail",))
    try:
        t0 = time.monotonic()
        [first] = p.run([Job("builtins:len", ("abc",))], timeout=30, deadline=3.5)
        took = time.monotonic() - t0
        [second] = p.run([Job("builtins:len", ("abc",))], timeout=30, deadline=30)
    finally:
        p.close()
    assert first.status == "infra" and took < 3.5 + 2.0, (first, took)  # no probe past what the deadline left
    assert second.detail.endswith("ImportError: slow failure"), second.detail
