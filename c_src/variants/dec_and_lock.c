/*
 * dec_and_lock.c - atomic_dec_and_lock-style release.
 *
 * Design
 *   Releases take a lock-free fast path while the count stays above 2
 *   (compare-exchange old -> old-1 with old > 2). The step down to "table
 *   only" (2 -> 1) and to zero is taken under g_OpenFlowsLock, the lock
 *   lookups take their references under. The delete notification that takes
 *   AssocCount to 0 sets CLOSING before its release; the release that reaches
 *   1 under the lock claims CLOSING -> MOVED and moves the flow right there.
 *
 * Invariant
 *   The count cannot rise from 1 while the releaser holds the lock (lookups
 *   need the lock), so "1 with CLOSING" seen under the lock means nobody else
 *   will ever move it; the claim makes the move happen once.
 *
 * Cost
 *   A compare-exchange loop per release; the table lock only for the last two
 *   steps of a flow's life.
 *
 * Known risk
 *   The threshold is easy to get wrong by one: a fast path that may take the
 *   count to 1 outside the lock reopens the race with lookups.
 */
#include "flowdata.h"

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    Flow->RefCount = 1 + (LONG)Associations;
    Flow->AssocCount = (LONG)Associations;
    Flow->State = FLOW_STATE_OPEN;
}

static VOID FlowRelease(PFLOW_CONTEXT Flow)
{
    KLOCK_QUEUE_HANDLE lockHandle;
    LONG old, remaining;

    for (;;) { /* fast path: not one of the last two references */
        old = ReadNoFence(&Flow->RefCount);
        if (old <= 2)
            break;
        if (InterlockedCompareExchange(&Flow->RefCount, old - 1, old) == old)
            return;
    }
    KeAcquireInStackQueuedSpinLock(&g_OpenFlowsLock, &lockHandle);
    remaining = InterlockedDecrement(&Flow->RefCount);
    if (remaining == 1 &&
        InterlockedCompareExchange(&Flow->State, FLOW_STATE_MOVED, FLOW_STATE_CLOSING) ==
            FLOW_STATE_CLOSING)
        FlowTableMoveToClosedLocked(Flow);
    KeReleaseInStackQueuedSpinLock(&lockHandle);
    if (remaining == 0)
        FlowFree(Flow);
}

_IRQL_requires_(DISPATCH_LEVEL)
BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow)
{
    InterlockedIncrement(&Flow->RefCount);
    return TRUE;
}

_IRQL_requires_max_(DISPATCH_LEVEL) /* PASSIVE on a worker's late packet */
VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    FlowRelease(Flow);
}

_IRQL_requires_(DISPATCH_LEVEL)
PFLOW_CONTEXT FlowVariantLookupReference(UINT64 FlowHandle)
{
    KLOCK_QUEUE_HANDLE lockHandle;
    PFLOW_CONTEXT flow;

    KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_OpenFlowsLock, &lockHandle);
    flow = FlowTableLookupLocked(FlowHandle);
    if (flow != NULL)
        InterlockedIncrement(&flow->RefCount);
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&lockHandle);
    return flow;
}

_IRQL_requires_(DISPATCH_LEVEL)
VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    if (InterlockedDecrement(&Flow->AssocCount) == 0)
        InterlockedExchange(&Flow->State, FLOW_STATE_CLOSING); /* before our release */
    FlowRelease(Flow);
}

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow)
{
    FlowRelease(Flow);
}

_IRQL_requires_(PASSIVE_LEVEL)
VOID FlowVariantSweep(VOID)
{
}
