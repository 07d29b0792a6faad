/*
 * shim_probe.c - checks the shim's Windows semantics from inside a variant.
 * FlowVariantInitialize runs each check and leaves a bitmask of the failed
 * ones in Flow->State (0: all hold); the other hooks are a correct
 * association-count design so the run itself is clean.
 */
#include "flowdata.h"

#define CHECK(bit, cond) \
    do {                 \
        if (!(cond))     \
            failed |= 1L << (bit); \
    } while (0)

VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations)
{
    LONG failed = 0;
    LONG x = 5;
    LONG64 y = 10;
    LONG r;
    LIST_ENTRY head, a, b;
    KSPIN_LOCK lock;
    KIRQL old;

    r = InterlockedCompareExchange(&x, 7, 5);       /* success: returns the initial value */
    CHECK(0, r == 5 && x == 7);
    r = InterlockedCompareExchange(&x, 9, 5);       /* failure: returns the current value */
    CHECK(1, r == 7 && x == 7);
    CHECK(2, InterlockedIncrement(&x) == 8 && x == 8);   /* the new value */
    CHECK(3, InterlockedDecrement(&x) == 7 && x == 7);   /* the new value */
    CHECK(4, InterlockedExchange(&x, 3) == 7 && x == 3); /* the old value */
    CHECK(5, InterlockedExchangeAdd(&x, 4) == 3 && x == 7);
    CHECK(6, InterlockedOr(&x, 8) == 7 && x == 15);
    CHECK(7, InterlockedAnd(&x, 5) == 15 && x == 5);
    CHECK(8, InterlockedExchangeAdd64(&y, 5) == 10 && y == 15 &&
                 InterlockedCompareExchange64(&y, 1, 15) == 15 && y == 1 &&
                 InterlockedIncrement64(&y) == 2 && InterlockedDecrement64(&y) == 1);

    InitializeListHead(&head);
    CHECK(9, IsListEmpty(&head));
    InsertTailList(&head, &a);
    InsertTailList(&head, &b);
    CHECK(10, !IsListEmpty(&head) && head.Flink == &a && head.Blink == &b);
    CHECK(11, RemoveHeadList(&head) == &a);
    CHECK(12, RemoveEntryList(&b) == TRUE && IsListEmpty(&head));

    KeInitializeSpinLock(&lock);
    KeAcquireSpinLock(&lock, &old);
    CHECK(13, old == PASSIVE_LEVEL && KeGetCurrentIrql() == DISPATCH_LEVEL && lock != 0);
    KeReleaseSpinLock(&lock, old);
    CHECK(14, KeGetCurrentIrql() == PASSIVE_LEVEL && lock == 0);

    WriteNoFence(&x, 42);
    CHECK(15, ReadNoFence(&x) == 42 && ReadAcquire(&x) == 42);
    WriteRelease(&x, 43);
    CHECK(16, x == 43);

    PVOID p1 = ExAllocatePoolWithTag(NonPagedPoolNx, 24, 0x74736554u);
    PVOID p2 = ExAllocatePoolWithTag(NonPagedPoolNx, 24, 0x74736554u);
    CHECK(17, p1 && p2 && p1 != p2);
    ExFreePoolWithTag(p2, 0x74736554u);
    ExFreePoolWithTag(p1, 0x74736554u);

    Flow->RefCount = 1 + (LONG)Associations;
    Flow->AssocCount = (LONG)Associations;
    Flow->State = failed;
}

BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow)
{
    InterlockedIncrement(&Flow->RefCount);
    return TRUE;
}

VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    if (InterlockedDecrement(&Flow->RefCount) == 0)
        FlowFree(Flow);
}

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

VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    if (InterlockedDecrement(&Flow->AssocCount) == 0)
        FlowTableMoveToClosed(Flow);
    if (InterlockedDecrement(&Flow->RefCount) == 0)
        FlowFree(Flow);
}

VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow)
{
    if (InterlockedDecrement(&Flow->RefCount) == 0)
        FlowFree(Flow);
}

VOID FlowVariantSweep(VOID)
{
}
