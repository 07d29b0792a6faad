/*
 * assoc_count_free_on_drain.c - assoc-count whose drain frees outright (naive).
 *
 * Design
 *   As assoc-count: the delete notification that takes AssocCount to 0 moves
 *   the flow once. But the closed-flows drain treats "user space has read it"
 *   as "it is dead" and frees the flow directly instead of dropping the
 *   table's reference.
 *
 * Invariant it means to keep
 *   A flow is freed once user space has its closed record.
 *
 * Cost
 *   As assoc-count.
 *
 * Known risk (why it is kept as a known-bad reference)
 *   A classify or late packet that took its reference before the move still
 *   holds the flow when the drain frees it: use after free (and the final
 *   releases underflow a freed count).
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

_IRQL_requires_max_(DISPATCH_LEVEL) /* PASSIVE on a worker's late packet */
VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    InterlockedDecrement(&Flow->RefCount);
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
    KLOCK_QUEUE_HANDLE lockHandle;
    UNREFERENCED_PARAMETER(Association);

    if (InterlockedDecrement(&Flow->AssocCount) == 0) {
        KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_OpenFlowsLock, &lockHandle);
        if (InterlockedCompareExchange(&Flow->State, FLOW_STATE_MOVED, FLOW_STATE_OPEN) ==
            FLOW_STATE_OPEN)
            FlowTableMoveToClosedLocked(Flow);
        KeReleaseInStackQueuedSpinLockFromDpcLevel(&lockHandle);
    }
    InterlockedDecrement(&Flow->RefCount);
}

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow)
{
    FlowFree(Flow); /* BUG: someone may still hold it */
}

_IRQL_requires_(PASSIVE_LEVEL)
VOID FlowVariantSweep(VOID)
{
}
