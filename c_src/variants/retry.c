/*
 * retry.c - unbounded CAS retry in the last delete notification.
 *
 * Design
 *   As shipped, plus an association count so that a delete notification knows
 *   it is the last one. The last one does not give up when a transient
 *   reference is held: it retries InterlockedCompareExchange(&RefCount, 2, 2)
 *   (the table + itself) until it succeeds, then moves the flow.
 *
 * Invariant
 *   The last delete notification moves the flow exactly once, when no
 *   transient reference is held; lifetime stays on RefCount.
 *
 * Cost
 *   Nothing on the packet path; the last delete spins for as long as any
 *   classify holds the flow.
 *
 * Known risk
 *   It spins at DISPATCH_LEVEL inside a DPC. When the holder cannot run — it
 *   was preempted by this very DPC on the same CPU, or steady traffic never
 *   leaves the count at exactly 2 — the spin never ends: a hang, and in the
 *   field a DPC watchdog bugcheck (0x133). flowrace reports it as a livelock
 *   (scenario preempted-holder).
 */
#include "flowdata.h"

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
        /* the last association: wait until only the table and we hold it */
        while (InterlockedCompareExchange(&Flow->RefCount, 2, 2) != 2)
            YieldProcessor();
        FlowTableMoveToClosed(Flow);
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
