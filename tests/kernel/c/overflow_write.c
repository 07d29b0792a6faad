/* A real memory error: the variant writes past the end of the flow context
 * (a plain C store, invisible to flowrace's own checks). AddressSanitizer must
 * report it; without sanitizers the store lands in the pool's redzone. */
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
