/* A real data race: the reference count is changed with plain C increments
 * and decrements instead of interlocked operations. ThreadSanitizer must
 * report it in stress mode. */
#include "faulty_base.h"

VOID FlowVariantClassifyDereference(PFLOW_CONTEXT Flow)
{
    Flow->RefCount--;
}

VOID FlowVariantDeleteNotify(PFLOW_CONTEXT Flow, ULONG Association)
{
    UNREFERENCED_PARAMETER(Association);
    if (InterlockedDecrement(&Flow->AssocCount) == 0)
        FlowTableMoveToClosed(Flow);
    Flow->RefCount--;
}

VOID FlowVariantClosedDrained(PFLOW_CONTEXT Flow) { Flow->RefCount--; }
