/*
 * retry_under_lock.c - bounded retry under the table lock, a backstop sweep, and a
 * drain that frees a moved flow outright. A test proposal (issue 10): dfs once
 * proved it correct on late-packets for RETRY_LIMIT >= 2, though it is not.
 *
 * Design
 *   The last delete notification tries, up to RETRY_LIMIT times, under
 *   g_OpenFlowsLock, to turn "the table + me" (2) into "the table" (1) and move the
 *   flow; between tries it drops the lock and calls YieldProcessor. If a transient
 *   holder outlasts it, it marks the flow CLOSING and drops its reference; the sweep
 *   moves a CLOSING flow whose count reads 1. The drain frees the moved flow: only
 *   the table holds a moved flow.
 *
 * Known risk (the bug)
 *   The sweep checks the count under the lock but moves after dropping it: a late
 *   packet can look the flow up in between, and release it after the drain freed it.
 */
#include "flowdata.h"

#ifndef RETRY_LIMIT
#define RETRY_LIMIT 2
#endif

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

_IRQL_requires_(DISPATCH_LEVEL)
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
    if (InterlockedDecrement(&Flow->AssocCount) != 0) {
        InterlockedDecrement(&Flow->RefCount);
        return;
    }
    for (int attempt = 0; attempt < RETRY_LIMIT; attempt++) {
        BOOLEAN moved = FALSE;

        KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_OpenFlowsLock, &lockHandle);
        if (InterlockedCompareExchange(&Flow->RefCount, 1, 2) == 2) {
            FlowTableMoveToClosedLocked(Flow);
            moved = TRUE;
        }
        KeReleaseInStackQueuedSpinLockFromDpcLevel(&lockHandle);
        if (moved)
            return;
        YieldProcessor();
    }
    InterlockedExchange(&Flow->State, FLOW_STATE_CLOSING);
    InterlockedDecrement(&Flow->RefCount);
}

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow)
{
    FlowFree(Flow);
}

_IRQL_requires_(PASSIVE_LEVEL)
VOID FlowVariantSweep(VOID)
{
    KLOCK_QUEUE_HANDLE lockHandle;
    PFLOW_CONTEXT flow, found = NULL;

    KeAcquireInStackQueuedSpinLock(&g_OpenFlowsLock, &lockHandle);
    for (flow = FlowTableFirstOpenLocked(); flow != NULL; flow = FlowTableNextOpenLocked(flow))
        if (ReadNoFence(&flow->State) == FLOW_STATE_CLOSING &&
            ReadNoFence(&flow->RefCount) == 1) {
            found = flow;
            break;
        }
    KeReleaseInStackQueuedSpinLock(&lockHandle);
    if (found != NULL)
        FlowTableMoveToClosed(found);
}
