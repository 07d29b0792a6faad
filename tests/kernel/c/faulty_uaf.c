/* Moves on the last delete, but the drain frees the flow outright while a late
 * packet may still hold it: use after free. */
#include "faulty_base.h"

VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow) { Release(Flow); }

VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    if (InterlockedDecrement(&Flow->AssocCount) == 0)
        FlowTableMoveToClosed(Flow);
    InterlockedDecrement(&Flow->RefCount);
}

VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow) { FlowFree(Flow); }
