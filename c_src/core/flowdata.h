/*
 * flowdata.h - the shared driver core as a variant sees it.
 *
 * The core owns the two tables (openFlows, closedFlows) and their locks, the
 * flow record, the packet path, the user-space reads and the statistics. A
 * variant (one C file in variants/) owns only the flow's lifetime: how the
 * reference count, the association count and the state word move, and who
 * moves a flow from openFlows to closedFlows. See c_src/README.md.
 *
 * Lock order: g_OpenFlowsLock before g_ClosedFlowsLock, and a flow's own
 * Lock (if a variant uses it) only as the variant documents.
 */
#ifndef FLOWRACE_FLOWDATA_H
#define FLOWRACE_FLOWDATA_H

#include "wdm_shim.h"

#define FLOW_POOL_TAG 0x776f6c46u /* 'Flow' */

/* Suggested values of FLOW_CONTEXT.State; a variant may define its own. */
#define FLOW_STATE_OPEN 0
#define FLOW_STATE_CLOSING 1
#define FLOW_STATE_MOVED 2

typedef struct _FLOW_CONTEXT {
    LIST_ENTRY Link;       /* core: linkage in openFlows or closedFlows      */
    LONG Where;            /* core: FR_WHERE_*; changes under the table locks */
    ULONG Index;           /* core: the scenario's flow number                */

    /* ---- owned by the variant ----------------------------------------
     * Plain LONGs, as in a driver's own context struct: the Interlocked* calls
     * take them as `LONG volatile *`; a plain C access (`--Flow->AssocCount`) is a
     * plain access, a data race when another CPU touches the field unordered; an
     * access through a volatile lvalue (`*(volatile LONG *)&Flow->State`) is a
     * relaxed atomic one (c_src/README.md, "What is modelled"). */
    LONG RefCount;
    LONG AssocCount;
    LONG State;
    KSPIN_LOCK Lock;

    /* ---- the record user space reads (core) ---------------------------- */
    UINT64 FlowHandle;
    UINT64 FlowCookie;
    ULONG ProcessId;
    USHORT Family;
    USHORT Protocol;
    volatile LONG Flags;
    UCHAR LocalAddr[16];
    UCHAR RemoteAddr[16];
    USHORT LocalPort;
    USHORT RemotePort;
    volatile LONG64 PacketsIn;
    volatile LONG64 PacketsOut;
    volatile LONG64 BytesIn;
    volatile LONG64 BytesOut;
    volatile LONG64 Timestamp;
    ULONG Rtt;
    ULONG RttVar;
    volatile LONG Retransmits;
    volatile LONG ConnStatus;
} FLOW_CONTEXT, *PFLOW_CONTEXT;

/* ---- what the core offers a variant ------------------------------------ */
extern KSPIN_LOCK g_OpenFlowsLock;
extern KSPIN_LOCK g_ClosedFlowsLock;

/* Find a flow in openFlows by handle; NULL if it is not there. */
_Requires_lock_held_(g_OpenFlowsLock)
PFLOW_CONTEXT FlowTableLookupLocked(UINT64 FlowHandle);

/* Iterate openFlows. To move the current flow while iterating, take the
 * next one first. */
_Requires_lock_held_(g_OpenFlowsLock)
PFLOW_CONTEXT FlowTableFirstOpenLocked(VOID);
_Requires_lock_held_(g_OpenFlowsLock)
PFLOW_CONTEXT FlowTableNextOpenLocked(PFLOW_CONTEXT Flow);

/* Move a flow from openFlows to closedFlows. Checked: moving a flow that is
 * not in openFlows is reported as a double move and does nothing. Returns
 * TRUE when the flow moved. The first form takes g_OpenFlowsLock itself. */
_IRQL_requires_max_(DISPATCH_LEVEL)
BOOLEAN FlowTableMoveToClosed(PFLOW_CONTEXT Flow);
_Requires_lock_held_(g_OpenFlowsLock)
BOOLEAN FlowTableMoveToClosedLocked(PFLOW_CONTEXT Flow);

/* Free a flow context. Checked: freeing a flow still linked into a table, or
 * twice, is reported. */
_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowFree(PFLOW_CONTEXT Flow);

/* ---- the variant contract: every variant defines all of these ----------- */

/* Called once before the flow is published in openFlows, with the number of
 * WFP associations (flowDeleteFn calls to come). The table holds the flow
 * from now on; initialise the counts that express that. */
_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantInitialize(PFLOW_CONTEXT Flow, ULONG Associations);

/* A transport classify reached the flow through an association's context
 * (the association is alive). Take a transient reference; return FALSE to
 * refuse (the packet is then not accounted to the flow). */
_IRQL_requires_(DISPATCH_LEVEL)
BOOLEAN FlowVariantClassifyReference(PFLOW_CONTEXT Flow);

/* Drop the transient reference taken by FlowVariantClassifyReference or
 * FlowVariantLookupReference. */
_IRQL_requires_max_(DISPATCH_LEVEL) /* PASSIVE on a worker's late packet */
VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow);

/* A late packet without a WFP context: find the flow in openFlows by handle
 * (under g_OpenFlowsLock) and return it with a transient reference, or NULL. */
_IRQL_requires_(DISPATCH_LEVEL)
PFLOW_CONTEXT FlowVariantLookupReference(UINT64 FlowHandle);

/* flowDeleteFn for one association (each runs exactly once per association;
 * different associations may run concurrently on different CPUs). */
_IRQL_requires_(DISPATCH_LEVEL)
VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association);

/* The closed-flows drain has unlinked the flow and handed its record to
 * user space: drop the table's reference. */
_IRQL_requires_max_(DISPATCH_LEVEL)
VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow);

/* Called at the start of every open-flows read (PASSIVE_LEVEL). A variant
 * with a backstop sweep moves flows here; others do nothing. */
_IRQL_requires_(PASSIVE_LEVEL)
VOID FlowVariantSweep(VOID);

#endif
