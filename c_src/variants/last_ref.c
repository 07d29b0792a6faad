/*
 * last_ref.c - the last reference out moves the flow.
 *
 * Design
 *   One reference count (the table + each association + transient holders)
 *   and a state word with two flags. The delete notification that takes
 *   AssocCount to 0 publishes CLOSING *before* it drops its own reference.
 *   Every release that brings the count to 1 ("only the table") claims
 *   CLOSING -> CLOSING|MOVED with a compare-exchange and, if it won, moves the
 *   flow. Whoever is last out — the delete notification or a classify that
 *   outlived it — does the move; nobody waits. Late-packet lookups take their
 *   reference with increment-not-zero under g_OpenFlowsLock.
 *
 * Invariant
 *   CLOSING is visible before the count can reach 2 with only the table and
 *   one holder, so the last holder out sees it; the claim makes the move
 *   happen once even if a lookup briefly raises the count again; nobody
 *   touches the flow after dropping its reference.
 *
 * Cost
 *   A compare-exchange loop instead of a decrement per release and of an
 *   increment per lookup; one more on the state word for the last release.
 *
 * Known risk
 *   Publishing the flag after the decrement reopens the original race
 *   (variant last-ref-late-flag). Claiming *after* the decrement to 1 touches
 *   a flow that only the table holds: a lookup can raise and drop the count,
 *   move the flow itself, and user space drain and free it before the claim
 *   (flowrace found that use after free in this file's first version).
 */
#include "flowdata.h"

#define CLOSING FLOW_STATE_CLOSING /* 1 */
#define MOVED FLOW_STATE_MOVED     /* 2 */

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    Flow->RefCount = 1 + (LONG)Associations;
    Flow->AssocCount = (LONG)Associations;
    Flow->State = 0;
}

static VOID FlowRelease(PFLOW_CONTEXT Flow)
{
    LONG count;

    for (;;) {
        count = ReadNoFence(&Flow->RefCount);
        /* about to leave only the table: claim the move while we still hold it */
        if (count == 2 && (ReadNoFence(&Flow->State) & CLOSING) != 0 &&
            InterlockedCompareExchange(&Flow->State, CLOSING | MOVED, CLOSING) == CLOSING)
            FlowTableMoveToClosed(Flow);
        if (InterlockedCompareExchange(&Flow->RefCount, count - 1, count) == count)
            break;
    }
    if (count == 1)
        FlowFree(Flow); /* that was the table's reference */
}

_IRQL_requires_(DISPATCH_LEVEL)
BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow)
{
    InterlockedIncrement(&Flow->RefCount); /* the association's reference keeps it above 0 */
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
    LONG count;

    KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_OpenFlowsLock, &lockHandle);
    flow = FlowTableLookupLocked(FlowHandle);
    while (flow != NULL) { /* increment-not-zero */
        count = ReadNoFence(&flow->RefCount);
        if (count == 0)
            flow = NULL;
        else if (InterlockedCompareExchange(&flow->RefCount, count + 1, count) == count)
            break;
    }
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&lockHandle);
    return flow;
}

_IRQL_requires_(DISPATCH_LEVEL)
VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    if (InterlockedDecrement(&Flow->AssocCount) == 0)
        InterlockedOr(&Flow->State, CLOSING); /* before our reference drops */
    FlowRelease(Flow);
}

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow)
{
    FlowRelease(Flow); /* the table's reference */
}

_IRQL_requires_(PASSIVE_LEVEL)
VOID FlowVariantSweep(VOID)
{
}
