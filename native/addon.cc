// The N-API face of the native kernels. Every matrix lives in one ArrayBuffer (the wasm heap
// that tfjs-backend-wasm keeps its tensors in), addressed by float offsets, so nothing is copied
// in or out and a call costs well under a microsecond.
#include <node_api.h>

#include <cstdint>

#include "gemm.h"

namespace {

bool readInt64(napi_env env, napi_value v, int64_t* out) { return napi_get_value_int64(env, v, out) == napi_ok; }

napi_value fail(napi_env env, const char* message) {
  napi_throw_type_error(env, nullptr, message);
  return nullptr;
}

// sgemm(heap: ArrayBuffer, m, n, k, a, aRowStride, aColStride, b, bRowStride, bColStride, c, ldc, accumulate)
napi_value Sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 13) return fail(env, "sgemm takes 13 arguments");
  void* data = nullptr;
  size_t bytes = 0;
  if (napi_get_arraybuffer_info(env, argv[0], &data, &bytes) != napi_ok) return fail(env, "sgemm: the first argument must be an ArrayBuffer");
  int64_t v[11];
  for (int i = 0; i < 11; i++) {
    if (!readInt64(env, argv[i + 1], &v[i])) return fail(env, "sgemm: sizes, offsets and strides must be integers");
  }
  bool accumulate = false;
  if (napi_get_value_bool(env, argv[12], &accumulate) != napi_ok) return fail(env, "sgemm: accumulate must be a boolean");
  const int64_t m = v[0], n = v[1], k = v[2];
  if (m < 0 || n < 0 || k < 0 || m > INT32_MAX || n > INT32_MAX || k > INT32_MAX) return fail(env, "sgemm: sizes must be non-negative 32-bit integers");
  const int64_t floats = static_cast<int64_t>(bytes / sizeof(float));
  // Every operand's first and last element must lie inside the buffer (strides are non-negative).
  auto inside = [&](int64_t at, int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
    if (at < 0 || rs < 0 || cs < 0) return false;
    if (rows == 0 || cols == 0) return true;
    return at + (rows - 1) * rs + (cols - 1) * cs < floats;
  };
  if (!inside(v[3], m, k, v[4], v[5]) || !inside(v[6], k, n, v[7], v[8]) || !inside(v[9], m, n, v[10], 1) || v[10] < n) {
    return fail(env, "sgemm: an operand lies outside the buffer");
  }
  float* base = static_cast<float*>(data);
  ringtrain::sgemm(static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), {base + v[3], v[4], v[5]}, {base + v[6], v[7], v[8]}, base + v[9], v[10], accumulate);
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "sgemm", NAPI_AUTO_LENGTH, Sgemm, nullptr, &fn);
  napi_set_named_property(env, exports, "sgemm", fn);
  napi_value name;
  napi_create_string_utf8(env, ringtrain::sgemmKernelName(), NAPI_AUTO_LENGTH, &name);
  napi_set_named_property(env, exports, "kernel", name);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
