/*
 * last_ref_late_flag.c - last-ref with the flag published too late (naive).
 *
 * Design
 *   As last-ref, but the last delete notification drops its reference first
 *   and publishes CLOSING afterwards; it moves the flow itself only if its own
 *   decrement left the table alone (touching a flow it no longer holds).
 *
 * Invariant it means to keep
 *   The last reference out moves the flow.
 *
 * Cost
 *   As last-ref.
 *
 * Known risk (why it is kept as a known-bad reference)
 *   A classify that releases between the delete's decrement and the flag sees
 *   "table only" without CLOSING and does nothing; the delete saw 2 and does
 *   nothing either: the shipped driver's leak, through another door.
 */
#include "flowdata.h"

#define CLOSING FLOW_STATE_CLOSING
#define MOVED FLOW_STATE_MOVED

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    Flow->RefCount = 1 + (LONG)Associations;
    Flow->AssocCount = (LONG)Associations;
    Flow->State = 0;
}

static VOID ClaimAndMove(PFLOW_CONTEXT Flow)
{
    if (InterlockedCompareExchange(&Flow->State, CLOSING | MOVED, CLOSING) == CLOSING)
        FlowTableMoveToClosed(Flow);
}

static VOID FlowRelease(PFLOW_CONTEXT Flow)
{
    LONG count;

    for (;;) { /* as last-ref */
        count = ReadNoFence(&Flow->RefCount);
        if (count == 2 && (ReadNoFence(&Flow->State) & CLOSING) != 0)
            ClaimAndMove(Flow);
        if (InterlockedCompareExchange(&Flow->RefCount, count - 1, count) == count)
            break;
    }
    if (count == 1)
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
    LONG count;

    KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_OpenFlowsLock, &lockHandle);
    flow = FlowTableLookupLocked(FlowHandle);
    while (flow != NULL) {
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
    BOOLEAN last = InterlockedDecrement(&Flow->AssocCount) == 0;
    LONG remaining = InterlockedDecrement(&Flow->RefCount);
    if (last) {
        InterlockedOr(&Flow->State, CLOSING); /* BUG: after our reference dropped */
        if (remaining == 1)
            ClaimAndMove(Flow);
    }
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
