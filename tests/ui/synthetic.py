"""Big runs written straight through the datastore's record API (no Ray): thousands of tasks or
runs in a few seconds, for the tests of what ``rayflow ui`` shows at scale."""

from __future__ import annotations

import time

PLAN = {
    "start": {
        "type": "start",
        "is_join": False,
        "split_kind": "foreach",
        "out": ["work"],
        "foreach": "items",
        "parents": [],
        "closes": None,
        "decorators": {},
    },
    "work": {
        "type": "linear",
        "is_join": False,
        "split_kind": None,
        "out": ["join"],
        "parents": ["start"],
        "closes": None,
        "decorators": {},
    },
    "join": {
        "type": "join",
        "is_join": True,
        "split_kind": None,
        "out": ["end"],
        "parents": ["work"],
        "closes": "start",
        "decorators": {},
    },
    "end": {
        "type": "end",
        "is_join": False,
        "split_kind": None,
        "out": [],
        "parents": ["join"],
        "closes": None,
        "decorators": {},
    },
}


def run_id_at(t: float, n: int) -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(t)) + f".000-{n:06x}"


def write_run(storage, flow: str, run_id: str, status: str, created: float, **extra) -> None:
    from rayflow.datastore import records

    record = {
        "flow": flow,
        "run_id": run_id,
        "status": status,
        "user": "tester",
        "tags": [],
        "system_tags": ["user:tester"],
        "parameters": {},
        "created_at": created,
        "finished_at": None if status == "running" else created + 5,
        "plan": PLAN,
        **extra,
    }
    records.write_run(storage, flow, run_id, record)
    if status == "running":
        records.write_heartbeat(storage, flow, run_id, {"at": time.time(), "interval": 10.0})


def write_task(
    storage,
    flow: str,
    run_id: str,
    step: str,
    task_id: str,
    *,
    splits: int = 0,
    failed: bool = False,
    at: float = 0.0,
) -> None:
    """A finished task (or a failed attempt) of the fan-out plan above."""
    from rayflow.datastore import TaskRecord, taskrecords

    at = at or time.time()
    frames = [["start", int(task_id), splits, "k"]] if step == "work" else []
    nxt = {"start": ["work"], "work": ["join"], "join": ["end"], "end": []}[step]
    foreach = {"var": "items", "n": splits, "items": "k"} if step == "start" else None
    exc = {"type": "RuntimeError", "message": f"task {task_id} broke"} if failed else None
    taskrecords.write(
        storage,
        TaskRecord(
            flow=flow,
            run_id=run_id,
            step=step,
            task_id=task_id,
            status="failed" if failed else "done",
            finished=not failed,
            frames=frames,
            started_at=at,
            finished_at=at + 0.1,
            host="test",
            next=nxt,
            foreach=foreach,
            exception=exc,
        ),
    )


def fan_run(
    storage,
    flow: str,
    run_id: str,
    splits: int,
    done: int,
    status: str,
    failed: tuple[int, ...] = (),
) -> None:
    """start -> ``splits`` work tasks (the first ``done`` of them finished, ``failed`` failed)
    -> join -> end; join and end are written only when every split is done."""
    t0 = time.time() - 60
    write_run(storage, flow, run_id, status, t0)
    write_task(storage, flow, run_id, "start", "0", splits=splits, at=t0)
    for i in range(done):
        write_task(
            storage,
            flow,
            run_id,
            "work",
            str(i),
            splits=splits,
            failed=i in failed,
            at=t0 + 1 + i * 1e-3,
        )
    if done == splits and not failed:
        write_task(storage, flow, run_id, "join", "0", at=t0 + 30)
        write_task(storage, flow, run_id, "end", "0", at=t0 + 31)
