/*
 * plain_assoc_decrement.c - assoc-count with the association count dropped by a
 * plain C decrement, the way a driver engineer might paste it.
 *
 * Two delete notifications on different CPUs may both read the same count and
 * both store count - 1 (a lost update): the count never reaches 0 and nobody
 * moves the flow (a leak), or both see 0 (a second move). The two `--` are a
 * data race: flowrace must report it, naming both accesses.
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

_IRQL_requires_(DISPATCH_LEVEL)
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

    if (--Flow->AssocCount == 0) { /* plain: a lost update when two deletes race */
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
