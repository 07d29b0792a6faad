/*
 * flowcore.c - the shared driver core: openFlows/closedFlows, the packet
 * path, the two user-space reads, statistics. Every driver variant is linked
 * with this file; it calls the variant's hooks (flowdata.h) at the points the
 * real flowdata.c would.
 */
#include "flowcore.h"
#include "fr_engine.h"

#include <stdlib.h>
#include <string.h>

KSPIN_LOCK g_OpenFlowsLock;
KSPIN_LOCK g_ClosedFlowsLock;

static PLIST_ENTRY g_OpenBuckets;
static ULONG g_BucketCount;
static ULONG g_BucketCap;
static LIST_ENTRY g_ClosedFlows;
static LONG g_OpenCount;
static LONG g_OpenCapacity;

FR_STATS g_FlowStats;

#define STAT_ADD(field, n) __atomic_add_fetch(&g_FlowStats.field, (n), __ATOMIC_RELAXED)

static PLIST_ENTRY BucketOf(UINT64 FlowHandle)
{
    UINT64 h = FlowHandle * 0x9E3779B97F4A7C15ULL;
    return &g_OpenBuckets[(h >> 32) % g_BucketCount];
}

int FlowCoreReset(int Buckets, int OpenCapacity)
{
    if (Buckets < 1)
        Buckets = 16;
    if ((ULONG)Buckets > g_BucketCap) {
        free(g_OpenBuckets);
        g_OpenBuckets = malloc(sizeof(LIST_ENTRY) * (size_t)Buckets);
        if (!g_OpenBuckets) {
            g_BucketCap = 0;
            return -1;
        }
        g_BucketCap = (ULONG)Buckets;
    }
    g_BucketCount = (ULONG)Buckets;
    for (ULONG i = 0; i < g_BucketCount; i++)
        InitializeListHead(&g_OpenBuckets[i]);
    InitializeListHead(&g_ClosedFlows);
    KeInitializeSpinLock(&g_OpenFlowsLock);
    KeInitializeSpinLock(&g_ClosedFlowsLock);
    g_OpenCount = 0;
    g_OpenCapacity = OpenCapacity > 0 ? OpenCapacity : 32767;
    memset(&g_FlowStats, 0, sizeof g_FlowStats);
    fr_register_global(&g_OpenFlowsLock, sizeof g_OpenFlowsLock, "openFlowsLock");
    fr_register_global(&g_ClosedFlowsLock, sizeof g_ClosedFlowsLock, "closedFlowsLock");
    fr_register_global(g_OpenBuckets, sizeof(LIST_ENTRY) * g_BucketCount, "openFlows");
    fr_register_global(&g_ClosedFlows, sizeof g_ClosedFlows, "closedFlows");
    fr_register_state(&g_OpenCount, sizeof g_OpenCount);
    fr_register_state(&g_FlowStats, sizeof g_FlowStats);
    return 0;
}

LONG FlowCoreOpenCount(VOID) { return __atomic_load_n(&g_OpenCount, __ATOMIC_RELAXED); }

/* ---- table services for variants -------------------------------------------- */
/* The *Locked helpers require g_OpenFlowsLock (as their SAL says): called without it they
 * would walk or change openFlows while another CPU does, which is list corruption in the
 * field, and which the explorer (it orders every list operation by its table's lock)
 * could not see. A finding, and the helper does nothing. */
static int holds_open_lock(const char *fn, PFLOW_CONTEXT Flow)
{
    if (__atomic_load_n(&g_OpenFlowsLock, __ATOMIC_ACQUIRE) == fr_lock_owner_token())
        return 1;
    fr_report(FR_V_DEADLOCK, Flow ? fr_pool_flow_of(Flow) : -1,
              "%s called without holding openFlowsLock", fn);
    return 0;
}

PFLOW_CONTEXT FlowTableLookupLocked(UINT64 FlowHandle)
{
    if (!holds_open_lock("FlowTableLookupLocked", NULL))
        return NULL;
    PLIST_ENTRY head = BucketOf(FlowHandle);
    for (PLIST_ENTRY e = head->Flink; e != head; e = e->Flink) {
        PFLOW_CONTEXT flow = CONTAINING_RECORD(e, FLOW_CONTEXT, Link);
        if (flow->FlowHandle == FlowHandle)
            return flow;
    }
    return NULL;
}

static PFLOW_CONTEXT FirstFrom(ULONG Bucket)
{
    for (ULONG b = Bucket; b < g_BucketCount; b++)
        if (g_OpenBuckets[b].Flink != &g_OpenBuckets[b])
            return CONTAINING_RECORD(g_OpenBuckets[b].Flink, FLOW_CONTEXT, Link);
    return NULL;
}

PFLOW_CONTEXT FlowTableFirstOpenLocked(VOID)
{
    return holds_open_lock("FlowTableFirstOpenLocked", NULL) ? FirstFrom(0) : NULL;
}

PFLOW_CONTEXT FlowTableNextOpenLocked(PFLOW_CONTEXT Flow)
{
    if (!holds_open_lock("FlowTableNextOpenLocked", Flow))
        return NULL;
    PLIST_ENTRY head = BucketOf(Flow->FlowHandle);
    if (Flow->Link.Flink != head)
        return CONTAINING_RECORD(Flow->Link.Flink, FLOW_CONTEXT, Link);
    return FirstFrom((ULONG)(head - g_OpenBuckets) + 1);
}

BOOLEAN FlowTableMoveToClosedLocked(PFLOW_CONTEXT Flow)
{
    KLOCK_QUEUE_HANDLE closedLock;
    if (!holds_open_lock("FlowTableMoveToClosedLocked", Flow))
        return FALSE;
    fr_check_access(Flow);
    if (Flow->Where != FR_WHERE_OPEN) {
        fr_report(FR_V_DOUBLE_MOVE, (int)Flow->Index, "flow %u moved to closedFlows while %s",
                  Flow->Index,
                  Flow->Where == FR_WHERE_CLOSED ? "already in closedFlows"
                                                 : "already drained to user space");
        return FALSE;
    }
    RemoveEntryList(&Flow->Link);
    g_OpenCount--;
    STAT_ADD(open_table_removes, 1);
    KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_ClosedFlowsLock, &closedLock);
    InsertTailList(&g_ClosedFlows, &Flow->Link);
    Flow->Where = FR_WHERE_CLOSED;
    STAT_ADD(closed_table_adds, 1);
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&closedLock);
    return TRUE;
}

BOOLEAN FlowTableMoveToClosed(PFLOW_CONTEXT Flow)
{
    KLOCK_QUEUE_HANDLE openLock;
    KeAcquireInStackQueuedSpinLock(&g_OpenFlowsLock, &openLock);
    BOOLEAN moved = FlowTableMoveToClosedLocked(Flow);
    KeReleaseInStackQueuedSpinLock(&openLock);
    return moved;
}

VOID FlowFree(PFLOW_CONTEXT Flow)
{
    if (!fr_pool_is_freed(Flow))
        STAT_ADD(flows_freed, 1);
    ExFreePoolWithTag(Flow, FLOW_POOL_TAG);
}

/* ---- flow creation --------------------------------------------------------------- */
PFLOW_CONTEXT FlowCoreCreate(const FR_FLOW_SPEC *Spec, ULONG Index)
{
    KLOCK_QUEUE_HANDLE openLock;
    PFLOW_CONTEXT flow = ExAllocatePoolWithTag(NonPagedPoolNx, sizeof(FLOW_CONTEXT), FLOW_POOL_TAG);
    if (!flow) {
        STAT_ADD(flows_dropped_table_full, 1);
        return NULL;
    }
    STAT_ADD(flows_allocated, 1);
    memset(flow, 0, sizeof *flow);
    fr_pool_tag_flow(flow, (int)Index);
    flow->Index = Index;
    flow->Where = FR_WHERE_NONE;
    flow->FlowHandle = Spec->handle;
    flow->FlowCookie = Spec->cookie;
    flow->ProcessId = Spec->pid;
    flow->Family = (USHORT)Spec->family;
    flow->Protocol = (USHORT)Spec->protocol;
    flow->Flags = (Spec->outbound ? FLOW_DIRECTION_OUTBOUND : FLOW_DIRECTION_INBOUND)
                  << FLOW_DIRECTION_SHIFT;
    memcpy(flow->LocalAddr, Spec->local_addr, 16);
    memcpy(flow->RemoteAddr, Spec->remote_addr, 16);
    flow->LocalPort = Spec->local_port;
    flow->RemotePort = Spec->remote_port;
    if (Spec->protocol == 6) {
        flow->Flags |= TCP_FLOW_ESTABLISHED_MASK;
        flow->ConnStatus = CONN_STAT_ESTABLISHED;
        flow->Rtt = 250;
        flow->RttVar = 50;
    }
    KeInitializeSpinLock(&flow->Lock);
    FR_HOOK(FlowVariantInitialize, FlowVariantInitialize(flow, (ULONG)Spec->n_assoc));

    KeAcquireInStackQueuedSpinLock(&g_OpenFlowsLock, &openLock);
    if (g_OpenCount >= g_OpenCapacity) {
        KeReleaseInStackQueuedSpinLock(&openLock);
        STAT_ADD(flows_dropped_table_full, 1);
        FlowFree(flow);
        return NULL;
    }
    InsertTailList(BucketOf(flow->FlowHandle), &flow->Link);
    flow->Where = FR_WHERE_OPEN;
    g_OpenCount++;
    STAT_ADD(open_table_adds, 1);
    KeReleaseInStackQueuedSpinLock(&openLock);
    return flow;
}

/* ---- the packet path --------------------------------------------------------------- */
static void Account(PFLOW_CONTEXT Flow, int Packet, int Bytes, int Inbound, int64_t Timestamp)
{
    int inbound = Inbound || Packet == FR_PKT_RST_RECV;
    LONG64 n = Bytes;
    /* One scheduling point for the whole update: the counters are the flow's
     * data, not its synchronisation, and the race under study is not in them. */
    InterlockedExchangeAdd64(inbound ? &Flow->BytesIn : &Flow->BytesOut, n);
    __atomic_add_fetch(inbound ? &Flow->PacketsIn : &Flow->PacketsOut, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&Flow->Timestamp, Timestamp, __ATOMIC_RELAXED);
    LONG status = 0;
    switch (Packet) {
    case FR_PKT_RST_RECV: status = CONN_STAT_EST_RECV_RST; break;
    case FR_PKT_RST_SENT: status = CONN_STAT_EST_SENT_RST; break;
    case FR_PKT_ACKRST: status = CONN_STAT_ACKRST; break;
    case FR_PKT_TIMEOUT: status = CONN_STAT_TIMEOUT; break;
    case FR_PKT_RETRANSMIT:
        __atomic_add_fetch(&Flow->Retransmits, 1, __ATOMIC_RELAXED);
        break;
    default: break;
    }
    if (status)
        __atomic_store_n(&Flow->ConnStatus, status, __ATOMIC_RELAXED);
    STAT_ADD(packets_classified, 1);
}

VOID FlowCoreClassify(PFLOW_CONTEXT Flow, int Packet, int Bytes, int Inbound, int64_t Timestamp)
{
    BOOLEAN referenced;
    FR_HOOK(FlowVariantClassifyReference, referenced = FlowVariantClassifyReference(Flow));
    if (!referenced) {
        STAT_ADD(classify_refused, 1);
        fr_event_advance();
        return;
    }
    Account(Flow, Packet, Bytes, Inbound, Timestamp);
    fr_event_advance(); /* "reference taken" ends, "released" begins */
    FR_HOOK(FlowVariantClassifyDereference, FlowVariantClassifyDereference(Flow));
}

VOID FlowCoreLatePacket(UINT64 FlowHandle, int Packet, int Bytes, int Inbound, int64_t Timestamp)
{
    /* The lookup runs at DISPATCH_LEVEL; a PASSIVE-level caller (a worker) raises for
     * it, then holds its reference and lets go of it at PASSIVE, where a DPC on its CPU
     * can preempt it (preempted-holder): the dereference runs at the caller's IRQL,
     * as the contract says (<= DISPATCH). */
    KIRQL oldIrql = KeGetCurrentIrql();
    if (oldIrql < DISPATCH_LEVEL)
        KeRaiseIrql(DISPATCH_LEVEL, &oldIrql);
    PFLOW_CONTEXT flow;
    FR_HOOK(FlowVariantLookupReference, flow = FlowVariantLookupReference(FlowHandle));
    if (oldIrql < DISPATCH_LEVEL)
        KeLowerIrql(oldIrql);
    if (!flow) {
        STAT_ADD(num_packets_after_flow_closed, 1);
        fr_event_advance();
        return;
    }
    Account(flow, Packet, Bytes, Inbound, Timestamp);
    fr_event_advance();
    FR_HOOK(FlowVariantClassifyDereference, FlowVariantClassifyDereference(flow));
}

/* ---- user-space reads ------------------------------------------------------------------ */
static void FillRecord(const FLOW_CONTEXT *Flow, FR_FLOW_RECORD *Rec, int Closed)
{
    memset(Rec, 0, sizeof *Rec);
    Rec->handle = Flow->FlowHandle;
    Rec->cookie = Flow->FlowCookie;
    Rec->pid = Flow->ProcessId;
    Rec->family = Flow->Family;
    Rec->protocol = Flow->Protocol;
    Rec->flags = (uint32_t)__atomic_load_n(&Flow->Flags, __ATOMIC_RELAXED) |
                 (Closed ? FLOW_CLOSED_MASK : 0);
    memcpy(Rec->local_addr, Flow->LocalAddr, 16);
    memcpy(Rec->remote_addr, Flow->RemoteAddr, 16);
    Rec->local_port = Flow->LocalPort;
    Rec->remote_port = Flow->RemotePort;
    Rec->packets_in = (uint64_t)__atomic_load_n(&Flow->PacketsIn, __ATOMIC_RELAXED);
    Rec->packets_out = (uint64_t)__atomic_load_n(&Flow->PacketsOut, __ATOMIC_RELAXED);
    Rec->bytes_in = (uint64_t)__atomic_load_n(&Flow->BytesIn, __ATOMIC_RELAXED);
    Rec->bytes_out = (uint64_t)__atomic_load_n(&Flow->BytesOut, __ATOMIC_RELAXED);
    Rec->timestamp = (uint64_t)__atomic_load_n(&Flow->Timestamp, __ATOMIC_RELAXED);
    Rec->rtt = Flow->Rtt;
    Rec->rtt_var = Flow->RttVar;
    Rec->retransmits = (uint32_t)__atomic_load_n(&Flow->Retransmits, __ATOMIC_RELAXED);
    Rec->conn_status = (uint32_t)__atomic_load_n(&Flow->ConnStatus, __ATOMIC_RELAXED);
}

int FlowCoreReadOpen(FLOW_RECORD_SINK Sink, void *Context)
{
    KLOCK_QUEUE_HANDLE openLock;
    FR_FLOW_RECORD rec;
    int n = 0;
    FR_HOOK(FlowVariantSweep, FlowVariantSweep());
    KeAcquireInStackQueuedSpinLock(&g_OpenFlowsLock, &openLock);
    for (PFLOW_CONTEXT flow = FlowTableFirstOpenLocked(); flow;
         flow = FlowTableNextOpenLocked(flow)) {
        fr_check_access(flow);
        if (Sink) {
            FillRecord(flow, &rec, 0);
            Sink(Context, &rec, 0);
        }
        n++;
    }
    KeReleaseInStackQueuedSpinLock(&openLock);
    return n;
}

int FlowCoreDrainClosed(FLOW_RECORD_SINK Sink, void *Context)
{
    KLOCK_QUEUE_HANDLE closedLock;
    FR_FLOW_RECORD rec;
    PFLOW_CONTEXT local[64];
    PFLOW_CONTEXT *drained = local;
    size_t n = 0, cap = 64;

    KeAcquireInStackQueuedSpinLock(&g_ClosedFlowsLock, &closedLock);
    while (!IsListEmpty(&g_ClosedFlows)) {
        PFLOW_CONTEXT flow = CONTAINING_RECORD(RemoveHeadList(&g_ClosedFlows), FLOW_CONTEXT, Link);
        flow->Where = FR_WHERE_NONE;
        flow->Flags |= FLOW_CLOSED_MASK;
        STAT_ADD(closed_table_removes, 1);
        if (Sink) {
            FillRecord(flow, &rec, 1);
            Sink(Context, &rec, 1);
        }
        if (n == cap) {
            PFLOW_CONTEXT *grown = malloc(sizeof(PFLOW_CONTEXT) * cap * 2);
            if (!grown)
                break;
            memcpy(grown, drained, sizeof(PFLOW_CONTEXT) * n);
            if (drained != local)
                free(drained);
            drained = grown;
            cap *= 2;
        }
        drained[n++] = flow;
    }
    KeReleaseInStackQueuedSpinLock(&closedLock);
    /* The records are in user space now: drop the table's references. */
    for (size_t i = 0; i < n; i++)
        FR_HOOK(FlowVariantClosedDrained, FlowVariantClosedDrained(drained[i]));
    if (drained != local)
        free(drained);
    return (int)n;
}
