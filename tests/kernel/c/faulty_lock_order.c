/* The first delete takes closedFlowsLock before openFlowsLock; the core's move
 * takes them the other way round (AB/BA). */
#include "faulty_base.h"

VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow) { Release(Flow); }

VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    KLOCK_QUEUE_HANDLE closedLock, openLock;
    if (Association == 0) {
        KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_ClosedFlowsLock, &closedLock);
        KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_OpenFlowsLock, &openLock);
        KeReleaseInStackQueuedSpinLockFromDpcLevel(&openLock);
        KeReleaseInStackQueuedSpinLockFromDpcLevel(&closedLock);
    }
    if (InterlockedDecrement(&Flow->AssocCount) == 0)
        FlowTableMoveToClosed(Flow);
    Release(Flow);
}

VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow) { Release(Flow); }
