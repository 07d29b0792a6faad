/*
 * assoc_count.c - a separate association count decides the move.
 *
 * Design
 *   AssocCount starts at the number of WFP associations; each delete
 *   notification decrements it. Whoever takes it from 1 to 0 (known from the
 *   value InterlockedDecrement returns) moves the flow, under g_OpenFlowsLock,
 *   guarded by a one-shot state claim OPEN -> MOVED. Transient references do
 *   not block the move: lifetime stays on RefCount (the table + each
 *   association + transient holders), and the closed-flows drain drops the
 *   table's reference; the last reference frees.
 *
 * Invariant
 *   The flow is moved exactly once, when its last association goes, whatever
 *   the classify path is doing; it is freed only when nobody holds it.
 *
 * Cost
 *   One extra interlocked decrement per delete notification; the last one
 *   takes the table lock (the move does anyway).
 *
 * Known risk
 *   A classify may still account a packet to a flow already in closedFlows
 *   (harmless: it holds a reference). Freeing on drain instead of dropping a
 *   reference is a use after free (variant assoc-count-free-on-drain).
 */
#include "flowdata.h"

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    Flow->RefCount = 1 + (LONG)Associations;
    Flow->AssocCount = (LONG)Associations;
    Flow->State = FLOW_STATE_OPEN;
}

_IRQL_requires_(DISPATCH_LEVEL)
BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow)
{
    InterlockedIncrement(&Flow->RefCount);
    return TRUE;
}

static VOID FlowRelease(PFLOW_CONTEXT Flow)
{
    if (InterlockedDecrement(&Flow->RefCount) == 0)
        FlowFree(Flow);
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
        InterlockedIncrement(&flow->RefCount); /* the table's reference keeps it alive */
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&lockHandle);
    return flow;
}

_IRQL_requires_(DISPATCH_LEVEL)
VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    KLOCK_QUEUE_HANDLE lockHandle;
    UNREFERENCED_PARAMETER(Association);

    if (InterlockedDecrement(&Flow->AssocCount) == 0) {
        KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_OpenFlowsLock, &lockHandle);
        if (InterlockedCompareExchange(&Flow->State, FLOW_STATE_MOVED, FLOW_STATE_OPEN) ==
            FLOW_STATE_OPEN)
            FlowTableMoveToClosedLocked(Flow);
        KeReleaseInStackQueuedSpinLockFromDpcLevel(&lockHandle);
    }
    FlowRelease(Flow); /* the association's reference */
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
