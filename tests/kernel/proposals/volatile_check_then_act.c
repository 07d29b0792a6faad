/*
 * volatile_check_then_act.c - the last delete notification publishes a volatile
 * CLOSING flag and leaves the move to the last transient holder; a holder checks
 * the flag (a volatile read), then drops its reference.
 *
 * Every shared access is atomic (interlocked, or an aligned volatile LONG): there
 * is no data race. But the check and the act are two steps: a holder that reads
 * "not closing" before the flag is set, and drops its reference after the delete
 * saw it still held, leaves the flow in openFlows for good (a leak), which the
 * exhaustive search must find.
 */
#include "flowdata.h"

#define FLAG(Flow) (*(volatile LONG *)&(Flow)->State)

VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    Flow->RefCount = 1 + (LONG)Associations;
    Flow->AssocCount = (LONG)Associations;
    Flow->State = FLOW_STATE_OPEN;
}

static VOID Release(PFLOW_CONTEXT Flow)
{
    if (InterlockedDecrement(&Flow->RefCount) == 0)
        FlowFree(Flow);
}

BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow)
{
    InterlockedIncrement(&Flow->RefCount);
    return TRUE;
}

VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    BOOLEAN closing = FLAG(Flow) == FLOW_STATE_CLOSING; /* check ... */
    LONG left = InterlockedDecrement(&Flow->RefCount);  /* ... then act */
    if (closing && left == 1 &&
        InterlockedCompareExchange(&Flow->State, FLOW_STATE_MOVED, FLOW_STATE_CLOSING) ==
            FLOW_STATE_CLOSING)
        FlowTableMoveToClosed(Flow);
    else if (left == 0)
        FlowFree(Flow);
}

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
    UNREFERENCED_PARAMETER(Association);
    if (InterlockedDecrement(&Flow->AssocCount) == 0) {
        /* last association: move now if only the table and we hold it */
        if (InterlockedCompareExchange(&Flow->RefCount, 1, 2) == 2) {
            FlowTableMoveToClosed(Flow);
            return;
        }
        FLAG(Flow) = FLOW_STATE_CLOSING; /* a holder will move it */
    }
    Release(Flow);
}

VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow) { Release(Flow); }

VOID FlowVariantSweep(VOID) {}
