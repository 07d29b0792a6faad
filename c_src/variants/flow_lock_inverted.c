/*
 * flow_lock_inverted.c - flow-lock that moves under the flow lock (naive).
 *
 * Design
 *   As flow-lock, but the release that decides the move performs it while
 *   still holding the flow's Lock (flow lock, then g_OpenFlowsLock), while
 *   lookups take g_OpenFlowsLock, then the flow lock.
 *
 * Known risk (why it is kept as a known-bad reference)
 *   AB/BA: a lookup holding the table lock waits for the flow lock, the
 *   releaser holding the flow lock waits for the table lock. flowrace reports
 *   the inverted order as a deadlock even on interleavings that get away
 *   with it.
 *
 * Original design
 *   Every change of RefCount, AssocCount and State happens under the flow's
 *   own Lock, so "the count reached table-only and the associations are gone"
 *   is one atomic decision, taken by whoever makes it true; it claims the move
 *   by setting MOVED under the lock. The move itself (which takes
 *   g_OpenFlowsLock) happens after the flow lock is dropped. Lookups take the
 *   flow lock inside g_OpenFlowsLock.
 *
 * Invariant
 *   Lock order: g_OpenFlowsLock, then a flow's Lock; never the reverse (the
 *   move runs with no flow lock held). The move is claimed once, under the
 *   flow lock; the flow is freed by whoever drops the count to 0.
 *
 * Cost
 *   A spin lock acquire/release per reference operation (the easiest design
 *   to reason about, the most expensive on the packet path).
 *
 * Known risk
 *   Moving while holding the flow lock inverts the lock order against lookups
 *   (AB/BA deadlock: variant flow-lock-inverted); an interlocked operation left
 *   outside the lock would lose counts.
 */
#include "flowdata.h"

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    Flow->RefCount = 1 + (LONG)Associations;
    Flow->AssocCount = (LONG)Associations;
    Flow->State = FLOW_STATE_OPEN;
}

/* Drop one reference; `association` also drops an association. */
static VOID FlowRelease(PFLOW_CONTEXT Flow, BOOLEAN Association)
{
    KLOCK_QUEUE_HANDLE lockHandle;
    BOOLEAN move = FALSE;
    LONG remaining;

    KeAcquireInStackQueuedSpinLock(&Flow->Lock, &lockHandle);
    if (Association && InterlockedDecrement(&Flow->AssocCount) == 0)
        WriteNoFence(&Flow->State, FLOW_STATE_CLOSING);
    remaining = InterlockedDecrement(&Flow->RefCount);
    if (remaining == 1 && ReadNoFence(&Flow->State) == FLOW_STATE_CLOSING) {
        WriteNoFence(&Flow->State, FLOW_STATE_MOVED);
        move = TRUE;
    }
    if (move)
        FlowTableMoveToClosed(Flow); /* BUG: the table lock inside the flow lock */
    KeReleaseInStackQueuedSpinLock(&lockHandle);
    if (!move && remaining == 0)
        FlowFree(Flow);
}

_IRQL_requires_(DISPATCH_LEVEL)
BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow)
{
    KLOCK_QUEUE_HANDLE lockHandle;
    KeAcquireInStackQueuedSpinLockAtDpcLevel(&Flow->Lock, &lockHandle);
    InterlockedIncrement(&Flow->RefCount);
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&lockHandle);
    return TRUE;
}

_IRQL_requires_max_(DISPATCH_LEVEL) /* PASSIVE on a worker's late packet */
VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    FlowRelease(Flow, FALSE);
}

_IRQL_requires_(DISPATCH_LEVEL)
PFLOW_CONTEXT FlowVariantLookupReference(UINT64 FlowHandle)
{
    KLOCK_QUEUE_HANDLE tableLock, flowLock;
    PFLOW_CONTEXT flow;

    KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_OpenFlowsLock, &tableLock);
    flow = FlowTableLookupLocked(FlowHandle);
    if (flow != NULL) {
        KeAcquireInStackQueuedSpinLockAtDpcLevel(&flow->Lock, &flowLock);
        InterlockedIncrement(&flow->RefCount);
        KeReleaseInStackQueuedSpinLockFromDpcLevel(&flowLock);
    }
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&tableLock);
    return flow;
}

_IRQL_requires_(DISPATCH_LEVEL)
VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    FlowRelease(Flow, TRUE);
}

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow)
{
    FlowRelease(Flow, FALSE);
}

_IRQL_requires_(PASSIVE_LEVEL)
VOID FlowVariantSweep(VOID)
{
}
