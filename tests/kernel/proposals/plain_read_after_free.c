/*
 * plain_read_after_free.c - assoc-count whose classify dereference reads the
 * flow's state with plain C after dropping its reference: the drain may have
 * freed the flow in between. No shim call touches the flow after the free; the
 * instrumented read must be reported as use_after_free with its file:line.
 */
#include "../c/faulty_base.h"

LONG g_MovedReleases; /* statistics */

VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    Release(Flow);
    if (Flow->State == FLOW_STATE_MOVED) /* a plain read of a flow it no longer holds */
        InterlockedIncrement(&g_MovedReleases);
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
