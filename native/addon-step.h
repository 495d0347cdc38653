// The N-API face of the fused training step (fused-step.h) and of the peak-FLOP probe (peak.h).
#pragma once
#include <node_api.h>

namespace ringtrain {

void exportStepFunctions(napi_env env, napi_value exports);

}  // namespace ringtrain
