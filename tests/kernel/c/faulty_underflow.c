/* The classify path drops its transient reference twice. */
#include "faulty_base.h"

VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    InterlockedDecrement(&Flow->RefCount);
    InterlockedDecrement(&Flow->RefCount);
}

VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    if (InterlockedDecrement(&Flow->AssocCount) == 0)
        FlowTableMoveToClosed(Flow);
    InterlockedDecrement(&Flow->RefCount);
}

VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow) { InterlockedDecrement(&Flow->RefCount); }
