/*
 * retry_bounded.c - bounded CAS retry, no backstop (naive).
 *
 * Design
 *   As `retry`, but the last delete notification gives up after
 *   RETRY_LIMIT attempts so that it never spins unboundedly at DISPATCH_LEVEL.
 *
 * Invariant it means to keep
 *   The flow is moved once, by the last delete notification.
 *
 * Cost
 *   At most RETRY_LIMIT interlocked attempts per flow.
 *
 * Known risk (why it is kept as a known-bad reference)
 *   Giving up leaves the flow in openFlows for good, exactly like the shipped
 *   driver: bounded retry without a sweep only makes the leak rarer.
 */
#include "flowdata.h"

#define RETRY_LIMIT 3

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    Flow->RefCount = 1 + (LONG)Associations;
    Flow->AssocCount = (LONG)Associations;
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
        for (int attempt = 0; attempt < RETRY_LIMIT; attempt++) {
            if (InterlockedCompareExchange(&Flow->RefCount, 2, 2) == 2) {
                FlowTableMoveToClosed(Flow);
                break;
            }
            YieldProcessor();
        }
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
}
