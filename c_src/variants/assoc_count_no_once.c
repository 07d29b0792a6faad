/*
 * assoc_count_no_once.c - assoc-count deciding from a re-read (naive).
 *
 * Design
 *   As assoc-count, but the delete notification decrements AssocCount and then
 *   re-reads the field to decide whether it was the last one, and moves
 *   without a one-shot state claim.
 *
 * Invariant it means to keep
 *   The flow is moved once, when the last association goes.
 *
 * Cost
 *   As assoc-count, minus the claim.
 *
 * Known risk (why it is kept as a known-bad reference)
 *   Two delete notifications on different CPUs can both decrement before
 *   either re-reads: both see 0 and both move the flow — a double move, list
 *   corruption in the field. The decision must come from the value the
 *   interlocked call returns (a public driver sample has exactly this bug).
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

static VOID FlowRelease(PFLOW_CONTEXT Flow)
{
    if (InterlockedDecrement(&Flow->RefCount) == 0)
        FlowFree(Flow);
}

_IRQL_requires_max_(DISPATCH_LEVEL) /* PASSIVE on a worker's late packet */
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
        InterlockedIncrement(&flow->RefCount);
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&lockHandle);
    return flow;
}

_IRQL_requires_(DISPATCH_LEVEL)
VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    InterlockedDecrement(&Flow->AssocCount);
    if (ReadNoFence(&Flow->AssocCount) == 0) /* BUG: a re-read, not the returned value */
        FlowTableMoveToClosed(Flow);
    FlowRelease(Flow);
}

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow)
{
    FlowRelease(Flow);
}

_IRQL_requires_(PASSIVE_LEVEL)
VOID FlowVariantSweep(VOID)
{
}
