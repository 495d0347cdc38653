// The N-API face of the kernels that work on the wasm heap: im2col and col2im (patches.h), the
// elementwise channel operations and batch norm (channel-ops.h).
#pragma once
#include <node_api.h>

namespace ringtrain {

void exportHeapFunctions(napi_env env, napi_value exports);

}  // namespace ringtrain
