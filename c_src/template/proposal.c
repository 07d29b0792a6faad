/*
 * proposal.c - <one line: what this fix does>
 *
 * Design
 *   <How the flow's lifetime works: who holds references, who moves the flow
 *    from openFlows to closedFlows, who frees it.>
 *
 * Invariant
 *   <What is always true, e.g. "the flow is moved exactly once, by whoever
 *    takes the association count from 1 to 0".>
 *
 * Cost
 *   <Interlocked operations and locks per packet / per delete notification.>
 *
 * Known risk
 *   <What could go wrong and why it does not; what the validator should try.>
 *
 * This template compiles and behaves like the shipped driver (the bug): every
 * hook below is the `original` variant's. Replace the bodies with your design.
 * Validate with:  flowrace validate proposal.c      (see c_src/README.md)
 *
 * Write plain C as you would for the driver: every load and store of a flow or
 * a global is seen (a scheduling point, a checked access), and two conflicting
 * accesses from different CPUs, one of them plain, that no lock, interlocked
 * operation or event order separates are a data_race finding. A `volatile`
 * access (aligned, <= 8 bytes) is a relaxed atomic: never a race, but no
 * ordering either. Inline assembly is refused (flowrace cannot see into it).
 */
#include "flowdata.h"

/* The flow is not yet in openFlows; nobody else can see it. Initialise every
 * field your design uses: the table holds the flow from now on, and each of
 * the `Associations` WFP associations will get one flowDeleteFn call. */
_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    Flow->RefCount = 1 + (LONG)Associations;
}

/* A classify reached the flow through a live association. Take a transient
 * reference (or return FALSE to refuse the packet). */
_IRQL_requires_(DISPATCH_LEVEL)
BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow)
{
    InterlockedIncrement(&Flow->RefCount);
    return TRUE;
}

/* Drop a transient reference (from ClassifyReference or LookupReference).
 * Decide from the value the interlocked call returns, never from a re-read. */
_IRQL_requires_max_(DISPATCH_LEVEL) /* PASSIVE on a worker's late packet */
VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    if (InterlockedDecrement(&Flow->RefCount) == 0)
        FlowFree(Flow);
}

/* A late packet: find the flow by handle under g_OpenFlowsLock and return it
 * with a transient reference, or NULL. */
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

/* flowDeleteFn of one association. Runs once per association, possibly on
 * several CPUs at once, at DISPATCH_LEVEL: it must not wait for another CPU
 * unboundedly. This is where the shipped driver loses the move. */
_IRQL_requires_(DISPATCH_LEVEL)
VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    if (InterlockedCompareExchange(&Flow->RefCount, 2, 2) == 2)
        FlowTableMoveToClosed(Flow);
    if (InterlockedDecrement(&Flow->RefCount) == 0)
        FlowFree(Flow);
}

/* User space has read the flow from closedFlows: drop the table's reference. */
_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow)
{
    if (InterlockedDecrement(&Flow->RefCount) == 0)
        FlowFree(Flow);
}

/* Called at PASSIVE_LEVEL at the start of every open-flows read: a place for
 * a backstop sweep (take g_OpenFlowsLock, walk with FlowTableFirstOpenLocked /
 * FlowTableNextOpenLocked, move with FlowTableMoveToClosedLocked). */
_IRQL_requires_(PASSIVE_LEVEL)
VOID FlowVariantSweep(VOID)
{
}
