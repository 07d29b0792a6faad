/*
 * original.c - the flow lifecycle as shipped (the bug).
 *
 * Design
 *   One reference count per flow. The table holds one reference, each of the
 *   four WFP associations holds one, a transport classify takes a transient
 *   one while it handles a packet. Each flowDeleteNotify calls
 *   DecrementRefCountAndMoveFromOpenToClosedTable, which moves the flow to
 *   closedFlows only if InterlockedCompareExchange(&RefCount, 2, 2) == 2, then
 *   drops the association's reference. The closed-flows drain drops the
 *   table's reference; whoever takes the count to zero frees the flow.
 *
 * Interpretation of "2" (a documented choice)
 *   Two sources disagree on what "2" means. This model reads it as
 *   "the table + the calling callback": the count seen by the last delete
 *   notification when nobody else holds the flow is 1 (table) + 1 (its own
 *   association), because the three earlier deletes have dropped theirs. The
 *   other reading ("after all four delete notifications") would make the
 *   check fire only after the last association's reference is gone, i.e.
 *   never from inside a delete notification; it describes the same race with
 *   the count off by one, so the model keeps the reading that moves the flow
 *   in the clean case.
 *
 * Invariant it means to keep
 *   A flow whose associations are all gone is moved to closedFlows exactly
 *   once and freed after user space has read it.
 *
 * Known risk (the bug under study)
 *   The compare-exchange is a check, not a claim. If a transport callout on
 *   another CPU holds a transient reference when the last delete
 *   notification runs, the check sees 3, the move is skipped, and nobody
 *   ever retries: the flow lingers in openFlows forever with its terminal
 *   status, and user space re-reads it on every poll.
 *
 * Cost
 *   One interlocked operation per reference, one per delete notification.
 */
#include "flowdata.h"

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    Flow->RefCount = 1 + (LONG)Associations; /* the table + each association */
}

_IRQL_requires_(DISPATCH_LEVEL)
BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow)
{
    InterlockedIncrement(&Flow->RefCount); /* IncrementFdRefcount */
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

static VOID DecrementRefCountAndMoveFromOpenToClosedTable(PFLOW_CONTEXT Flow)
{
    /* "the table + the calling callback": nobody else holds the flow */
    if (InterlockedCompareExchange(&Flow->RefCount, 2, 2) == 2)
        FlowTableMoveToClosed(Flow);
    DecrementFdRefcount(Flow);
}

_IRQL_requires_(DISPATCH_LEVEL)
VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    DecrementRefCountAndMoveFromOpenToClosedTable(Flow);
}

_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow)
{
    DecrementFdRefcount(Flow); /* the table's reference */
}

_IRQL_requires_(PASSIVE_LEVEL)
VOID FlowVariantSweep(VOID)
{
    /* no backstop: a skipped move is never retried */
}
