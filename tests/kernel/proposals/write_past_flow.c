/*
 * write_past_flow.c - assoc-count whose classify reference also stamps a byte 64
 * bytes past the end of the flow context (a plain C store). The pool's redzone
 * after the block catches it: an out_of_bounds finding in controlled mode, with
 * the file:line of the store (before the instrumentation only `flowrace sanitize`
 * saw it).
 */
#include "flowdata.h"

VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    Flow->RefCount = 1 + (LONG)Associations;
    Flow->AssocCount = (LONG)Associations;
    Flow->State = FLOW_STATE_OPEN;
}

BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow)
{
    InterlockedIncrement(&Flow->RefCount);
    ((UCHAR *)Flow)[sizeof(FLOW_CONTEXT) + 64] = 1; /* 64 bytes past the flow */
    return TRUE;
}

static VOID Release(PFLOW_CONTEXT Flow)
{
    if (InterlockedDecrement(&Flow->RefCount) == 0)
        FlowFree(Flow);
}

VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow) { Release(Flow); }

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
    Release(Flow);
}

VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow) { Release(Flow); }

VOID FlowVariantSweep(VOID) {}
