/*
 * plain_state_under_lock.c - every count and the state word read and written
 * with plain C, but only while holding the flow's own spin lock (and the move
 * under the table lock). Correct: the lock orders every access, so flowrace must
 * report no data race (and no other finding).
 *
 * Design: as flow-lock. RefCount = table + associations + transient holders,
 * AssocCount = associations left; the release that leaves only the table's
 * reference with every association gone moves the flow, once (State).
 */
#include "flowdata.h"

VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    Flow->RefCount = 1 + (LONG)Associations;
    Flow->AssocCount = (LONG)Associations;
    Flow->State = FLOW_STATE_OPEN;
}

static VOID FlowRelease(PFLOW_CONTEXT Flow, BOOLEAN Association)
{
    KLOCK_QUEUE_HANDLE lockHandle;
    BOOLEAN move = FALSE;
    LONG remaining;

    KeAcquireInStackQueuedSpinLock(&Flow->Lock, &lockHandle);
    if (Association && --Flow->AssocCount == 0)
        Flow->State = FLOW_STATE_CLOSING;
    remaining = --Flow->RefCount;
    if (remaining == 1 && Flow->State == FLOW_STATE_CLOSING) {
        Flow->State = FLOW_STATE_MOVED;
        move = TRUE;
    }
    KeReleaseInStackQueuedSpinLock(&lockHandle);
    if (move)
        FlowTableMoveToClosed(Flow);
    else if (remaining == 0)
        FlowFree(Flow);
}

BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow)
{
    KLOCK_QUEUE_HANDLE lockHandle;
    KeAcquireInStackQueuedSpinLockAtDpcLevel(&Flow->Lock, &lockHandle);
    Flow->RefCount++;
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&lockHandle);
    return TRUE;
}

VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow) { FlowRelease(Flow, FALSE); }

PFLOW_CONTEXT FlowVariantLookupReference(UINT64 FlowHandle)
{
    KLOCK_QUEUE_HANDLE tableLock, flowLock;
    PFLOW_CONTEXT flow;

    KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_OpenFlowsLock, &tableLock);
    flow = FlowTableLookupLocked(FlowHandle);
    if (flow != NULL) {
        KeAcquireInStackQueuedSpinLockAtDpcLevel(&flow->Lock, &flowLock);
        flow->RefCount++;
        KeReleaseInStackQueuedSpinLockFromDpcLevel(&flowLock);
    }
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&tableLock);
    return flow;
}

VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    FlowRelease(Flow, TRUE);
}

VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow) { FlowRelease(Flow, FALSE); }

VOID FlowVariantSweep(VOID) {}
