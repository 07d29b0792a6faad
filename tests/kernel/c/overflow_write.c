/* A real memory error: the variant writes past the end of the flow context
 * (a plain C store, into the pool's redzone). AddressSanitizer must report it
 * (flowrace sanitize); controlled mode reports it as out_of_bounds. */
#include "faulty_base.h"

VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    ((volatile UCHAR *)Flow)[sizeof(FLOW_CONTEXT) + 8] = 1;
    Release(Flow);
}

VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    if (InterlockedDecrement(&Flow->AssocCount) == 0)
        FlowTableMoveToClosed(Flow);
    Release(Flow);
}

VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow) { Release(Flow); }
