import threading
import time

from auditkit import jobs
from auditkit.config import max_jobs


def test_at_most_max_jobs_run_at_once():
    running, peak, lock = [0], [0], threading.Lock()

    def work(progress):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        progress(1, 1)
        with lock:
            running[0] -= 1
        return "ok"

    started = [jobs.BackgroundJob(f"job{i}", work) for i in range(max_jobs() * 3)]
    assert all(job.wait(10) for job in started)
    assert peak[0] == max_jobs()
    assert all(job.result == "ok" and job.fraction == 1.0 for job in started)


def test_a_job_waits_for_a_free_slot_and_says_so():
    waited, done = [], threading.Event()
    for _ in range(max_jobs()):
        jobs._slot_pool().acquire()

    def late():
        with jobs.job_slot(on_wait=lambda: waited.append(True)):
            done.set()
    thread = threading.Thread(target=late)
    thread.start()
    time.sleep(0.1)
    assert waited == [True] and not done.is_set()
    for _ in range(max_jobs()):
        jobs._slot_pool().release()
    thread.join(5)
    assert done.is_set()


def test_a_job_acts_as_whoever_started_it():
    from auditkit.access import Principal, acting_as, current_principal

    rob = Principal("rob@example.org", frozenset({"reviewer"}), authenticated=True)
    with acting_as(rob):
        job = jobs.BackgroundJob("who", lambda progress: current_principal())
    assert job.wait(10) and job.result == rob
    assert current_principal() != rob
