"""The canonical race, as a user meets it: documented schedules, seeds, determinism, replay."""

import json

from kernel_model import load_trace, replay, run, save_trace


def test_documented_leak_schedule_leaks(lingering):
    out = run("original", lingering, schedule="cpu0@late0.ref,cpu1*")
    assert out.kinds == {"leak"}
    # the flow lingers in openFlows with its terminal status, re-read on every poll
    assert out.flows[0]["where"] == "open" and out.flows[0]["refcount"] == 1
    assert all(len(p.open) == 1 and p.open[0].conn_status == 6 for p in out.polls)
    assert out.stats["closed_table_adds"] == 0


def test_documented_clean_schedule_closes(lingering):
    out = run("original", lingering, schedule="cpu0*,cpu1*")
    assert out.violations == []
    closed = [r for p in out.polls for r in p.closed]
    assert len(closed) == 1 and closed[0].cookie == 0xCAFEBABE
    assert closed[0].flags & 0x10  # FLOW_CLOSED_MASK


def test_the_leak_needs_the_overlap(lingering):
    """The minimal story: the late packet's reference spans the last delete."""
    out = run("original", lingering, schedule="leak")
    late_ref = max(s.index for s in out.steps if s.event == "cpu0.late0.ref")
    late_release = min(s.index for s in out.steps if s.event == "cpu0.late0.release")
    last_icx = next(s for s in out.steps if s.event == "cpu1.delete3"
                    and s.op == "InterlockedCompareExchange")
    assert late_ref < last_icx.index < late_release
    assert last_icx.value == 3  # table + caller + the late packet


def test_seeds_give_both_outcomes(lingering):
    kinds = [frozenset(run("original", lingering, seed=s).kinds) for s in range(1, 201)]
    assert frozenset({"leak"}) in kinds
    assert frozenset() in kinds
    assert set(kinds) <= {frozenset(), frozenset({"leak"})}


def test_same_seed_same_json(lingering):
    a = json.dumps(run("original", lingering, seed=17).to_json())
    b = json.dumps(run("original", lingering, seed=17).to_json())
    assert a == b


def test_saved_trace_replays_exactly(lingering, tmp_path):
    for seed in range(1, 40):
        out = run("original", lingering, seed=seed)
        path = save_trace(out, tmp_path / f"t{seed}.json")
        again = replay(load_trace(path), lingering)
        assert json.dumps(again.to_json()) == json.dumps(out.to_json())


def test_agent_steps_end_with_the_final_poll(lingering):
    out = run("original", lingering, schedule="clean")
    steps = out.agent_steps()
    assert [s.kind for s in steps] == ["poll"] * 4
    assert sum(len(s.closed) for s in steps) == 1


def test_agent_steps_leave_out_what_never_ran():
    """Regression: a restart the execution never reached (it stopped at a livelock
    first) was handed to the agent as its first step."""
    from kernel_model import Actor, Delete, Flow, LatePacket, Poll, Restart, Scenario

    scenario = Scenario(
        name="restart-after-hang", description="", flows=[Flow(cookie=1, associations=1)],
        actors=[Actor("worker1", 1, [LatePacket(0, "data", irql="passive")]),
                Actor("dpc1", 1, [Delete(0, 0)]),
                Actor("agent", 2, [Poll("c1", after=("dpc1.delete0",)), Restart("c1")])])
    out = run("retry", scenario, schedule="worker1@worker1.late0.ref,dpc1*")
    assert out.kinds == {"livelock"}
    assert out.agent_steps() == []
