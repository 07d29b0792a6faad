/*
 * flowcore.h - the driver core's entry points for the harness (the WFP and
 * IOCTL side of the model). Variants see flowdata.h only.
 */
#ifndef FLOWRACE_FLOWCORE_H
#define FLOWRACE_FLOWCORE_H

#include "flowdata.h"
#include "fr_api.h"

typedef void (*FLOW_RECORD_SINK)(void *Context, const FR_FLOW_RECORD *Record, int Closed);

extern FR_STATS g_FlowStats;

int FlowCoreReset(int Buckets, int OpenCapacity);
LONG FlowCoreOpenCount(VOID);
PFLOW_CONTEXT FlowCoreCreate(const FR_FLOW_SPEC *Spec, ULONG Index);
VOID FlowCoreClassify(PFLOW_CONTEXT Flow, int Packet, int Bytes, int Inbound, int64_t Timestamp);
VOID FlowCoreLatePacket(UINT64 FlowHandle, int Packet, int Bytes, int Inbound, int64_t Timestamp);
int FlowCoreReadOpen(FLOW_RECORD_SINK Sink, void *Context);
int FlowCoreDrainClosed(FLOW_RECORD_SINK Sink, void *Context);

/* Call a variant hook with its name known to the engine (for findings such as `irql`:
 * which hook made the call): FR_HOOK(FlowVariantSweep, FlowVariantSweep()). */
const char *fr_hook_set(const char *hook);
#define FR_HOOK(hook, call)                                                                \
    do {                                                                                   \
        const char *fr_prev_hook_ = fr_hook_set(#hook);                                    \
        call;                                                                              \
        fr_hook_set(fr_prev_hook_);                                                        \
    } while (0)

#endif
