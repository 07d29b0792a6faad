/*
 * retry_bounded_sweep.c - bounded CAS retry with a backstop sweep.
 *
 * Design
 *   The last delete notification (the one that takes AssocCount to 0) tries
 *   InterlockedCompareExchange(&RefCount, 2, 2) up to RETRY_LIMIT times and
 *   moves the flow when it sees "the table + itself". If a transient holder
 *   outlasts the retries, it marks the flow CLOSING instead (before dropping
 *   its own reference). Every open-flows read first sweeps: under
 *   g_OpenFlowsLock, a CLOSING flow whose count is back to "table only" (1) is
 *   claimed CLOSING -> MOVED and moved.
 *
 * Invariant
 *   A flow whose associations are gone is moved exactly once: by the last
 *   delete, or by the first sweep after its last transient reference drops.
 *   Lookups take references under g_OpenFlowsLock, which the sweep holds, so
 *   the count cannot rise between the sweep's check and its move.
 *
 * Cost
 *   At most RETRY_LIMIT interlocked attempts in the DPC; one pass over
 *   openFlows per poll (already done by the read itself).
 *
 * Known risk
 *   A flow may wait in openFlows, CLOSING, until the next poll: user space can
 *   read it once more as open with a terminal status.
 */
#include "flowdata.h"

#define RETRY_LIMIT 3

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

static VOID DecrementFdRefcount(PFLOW_CONTEXT Flow)
{
    if (InterlockedDecrement(&Flow->RefCount) == 0)
        FlowFree(Flow);
}

_IRQL_requires_max_(DISPATCH_LEVEL) /* PASSIVE on a worker's late packet */
VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    DecrementFdRefcount(Flow);
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
    if (InterlockedDecrement(&Flow->AssocCount) == 0) {
        BOOLEAN moved = FALSE;
        for (int attempt = 0; attempt < RETRY_LIMIT && !moved; attempt++) {
            if (InterlockedCompareExchange(&Flow->RefCount, 2, 2) == 2 &&
                InterlockedCompareExchange(&Flow->State, FLOW_STATE_MOVED, FLOW_STATE_OPEN) ==
                    FLOW_STATE_OPEN) {
                FlowTableMoveToClosed(Flow);
                moved = TRUE;
            } else {
                YieldProcessor();
            }
        }
        if (!moved) /* leave it to the sweep; published before our reference drops */
            InterlockedCompareExchange(&Flow->State, FLOW_STATE_CLOSING, FLOW_STATE_OPEN);
    }
    DecrementFdRefcount(Flow);
}

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow)
{
    DecrementFdRefcount(Flow);
}

_IRQL_requires_(PASSIVE_LEVEL)
VOID FlowVariantSweep(VOID)
{
    KLOCK_QUEUE_HANDLE lockHandle;
    PFLOW_CONTEXT flow, next;

    KeAcquireInStackQueuedSpinLock(&g_OpenFlowsLock, &lockHandle);
    for (flow = FlowTableFirstOpenLocked(); flow != NULL; flow = next) {
        next = FlowTableNextOpenLocked(flow);
        if (ReadNoFence(&flow->State) != FLOW_STATE_CLOSING)
            continue;
        /* only the table holds it: no lookup can add a reference while we hold the lock */
        if (InterlockedCompareExchange(&flow->RefCount, 1, 1) == 1 &&
            InterlockedCompareExchange(&flow->State, FLOW_STATE_MOVED, FLOW_STATE_CLOSING) ==
                FLOW_STATE_CLOSING)
            FlowTableMoveToClosedLocked(flow);
    }
    KeReleaseInStackQueuedSpinLock(&lockHandle);
}
