// The N-API face of the native kernels. Every matrix lives in one ArrayBuffer (the wasm heap
// that tfjs-backend-wasm keeps its tensors in), addressed by float offsets, so nothing is copied
// in or out and a call costs well under a microsecond.
#include <node_api.h>

#include <cstdint>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "gemm.h"
#include "batch.h"
#include "optim.h"
#include "diagnostics.h"
#include "wire-convert.h"
#include "shm.h"
#include "affinity.h"
#include "malloc-tuning.h"
#include "addon-step.h"
#include "addon-heap.h"
#include "napi-args.h"

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

using ringtrain::exportFunction;
using ringtrain::typedArg;

bool typed(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* length) { return typedArg(env, v, want, data, length); }

bool floats(napi_env env, napi_value v, float** data, size_t* length) { return typedArg(env, v, napi_float32_array, data, length); }

bool isNull(napi_env env, napi_value v) { return ringtrain::isNullArg(env, v); }

// Reads `count` Float32Array arguments (null allowed where `optional`), the first being the
// parameters and the others at least as long,
// then `doubles` numbers; false after throwing when any is wrong.
bool readUpdateArgs(napi_env env, napi_callback_info info, size_t count, const bool* optional, float** arrays, size_t doubles, double* values, int64_t* n) {
  napi_value argv[16];
  size_t argc = 16;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != count + doubles) {
    napi_throw_type_error(env, nullptr, "optimizer update: wrong number of arguments");
    return false;
  }
  size_t shortest = SIZE_MAX;
  size_t paramsLength = 0;
  for (size_t i = 0; i < count; i++) {
    arrays[i] = nullptr;
    if (optional[i] && isNull(env, argv[i])) continue;
    size_t length = 0;
    if (!floats(env, argv[i], &arrays[i], &length)) {
      napi_throw_type_error(env, nullptr, "optimizer update: buffers must be Float32Arrays");
      return false;
    }
    if (i == 0) paramsLength = length;
    if (length < shortest) shortest = length;
  }
  for (size_t i = 0; i < doubles; i++) {
    if (napi_get_value_double(env, argv[count + i], &values[i]) != napi_ok) {
      napi_throw_type_error(env, nullptr, "optimizer update: hyperparameters must be numbers");
      return false;
    }
  }
  // The parameters' length is the size; every other buffer must be at least that long.
  if (shortest < paramsLength) {
    napi_throw_range_error(env, nullptr, "optimizer update: a buffer is shorter than the parameters");
    return false;
  }
  *n = static_cast<int64_t>(paramsLength);
  return true;
}

// sgd(p, g, momentumBuffer | null, momentum, wd, lr, nesterov 0/1)
napi_value Sgd(napi_env env, napi_callback_info info) {
  const bool optional[] = {false, false, true};
  float* a[3];
  double x[4];
  int64_t n = 0;
  if (!readUpdateArgs(env, info, 3, optional, a, 4, x, &n)) return nullptr;
  ringtrain::sgdStep(a[0], a[1], a[2], n, x[0], x[1], x[2], x[3] != 0);
  return nullptr;
}

// adam(p, g, m, v, b1, b2, stepSize, bc2Sqrt, eps, decay, l2)
napi_value Adam(napi_env env, napi_callback_info info) {
  const bool optional[] = {false, false, false, false};
  float* a[4];
  double x[7];
  int64_t n = 0;
  if (!readUpdateArgs(env, info, 4, optional, a, 7, x, &n)) return nullptr;
  ringtrain::adamStep(a[0], a[1], a[2], a[3], n, x[0], x[1], x[2], x[3], x[4], x[5], x[6]);
  return nullptr;
}

// rmsprop(p, g, squareAvg, momentumBuffer | null, alpha, eps, momentum, wd, lr)
napi_value RmsProp(napi_env env, napi_callback_info info) {
  const bool optional[] = {false, false, false, true};
  float* a[4];
  double x[5];
  int64_t n = 0;
  if (!readUpdateArgs(env, info, 4, optional, a, 5, x, &n)) return nullptr;
  ringtrain::rmspropStep(a[0], a[1], a[2], a[3], n, x[0], x[1], x[2], x[3], x[4]);
  return nullptr;
}

// sumSquares(g: Float32Array) -> number
napi_value SumSquares(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  float* g = nullptr;
  size_t n = 0;
  if (argc != 1 || !floats(env, argv[0], &g, &n)) return fail(env, "sumSquares takes one Float32Array");
  napi_value out;
  napi_create_double(env, ringtrain::sumSquares(g, static_cast<int64_t>(n)), &out);
  return out;
}

// histogram(values: Float32Array, bins, out: Float64Array of 6 + bins)
napi_value Histogram(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  float* v = nullptr;
  size_t n = 0;
  int32_t bins = 0;
  void* out = nullptr;
  size_t outLength = 0;
  if (argc != 3 || !floats(env, argv[0], &v, &n) || napi_get_value_int32(env, argv[1], &bins) != napi_ok || !typed(env, argv[2], napi_float64_array, &out, &outLength)) {
    return fail(env, "histogram takes a Float32Array, a bin count and a Float64Array");
  }
  if (bins < 1 || outLength < 6 + static_cast<size_t>(bins)) return fail(env, "histogram: bins must be >= 1 and the output hold 6 + bins numbers");
  ringtrain::histogram(v, static_cast<int64_t>(n), bins, static_cast<double*>(out));
  return nullptr;
}

// sumSquaredDiff(a: Float32Array, b: Float32Array | null): sum of (a - b)^2 over a's length
napi_value SumSquaredDiff(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  float* a = nullptr;
  float* b = nullptr;
  size_t n = 0;
  size_t m = 0;
  if (argc != 2 || !floats(env, argv[0], &a, &n) || !(isNull(env, argv[1]) || floats(env, argv[1], &b, &m))) {
    return fail(env, "sumSquaredDiff takes a Float32Array and a Float32Array or null");
  }
  if (b != nullptr && m < n) return fail(env, "sumSquaredDiff: the second array is shorter than the first");
  napi_value out;
  napi_create_double(env, ringtrain::sumSquaredDiff(a, b, static_cast<int64_t>(n)), &out);
  return out;
}

// scaleBy(g: Float32Array, coef: number)
napi_value ScaleBy(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  float* g = nullptr;
  size_t n = 0;
  double coef = 0;
  if (argc != 2 || !floats(env, argv[0], &g, &n) || napi_get_value_double(env, argv[1], &coef) != napi_ok) return fail(env, "scaleBy takes a Float32Array and a number");
  ringtrain::scaleBy(g, static_cast<int64_t>(n), coef);
  return nullptr;
}

// wireEncode(kind: 0 fp16 | 1 bf16, src: Float32Array, dst: Uint16Array of at least src.length)
napi_value WireEncode(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t kind = 0;
  float* src = nullptr;
  void* dst = nullptr;
  size_t n = 0, m = 0;
  if (argc != 3 || napi_get_value_int32(env, argv[0], &kind) != napi_ok || (kind != 0 && kind != 1) || !floats(env, argv[1], &src, &n) ||
      !typed(env, argv[2], napi_uint16_array, &dst, &m) || m < n)
    return fail(env, "wireEncode takes a kind (0 or 1), a Float32Array and a Uint16Array at least as long");
  ringtrain::wireEncode(kind, src, static_cast<uint16_t*>(dst), static_cast<int64_t>(n));
  return nullptr;
}

// wireDecode(kind, src: Uint16Array, dst: Float32Array no longer than src, add: boolean)
napi_value WireDecode(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t kind = 0;
  void* src = nullptr;
  float* dst = nullptr;
  size_t m = 0, n = 0;
  bool add = false;
  if (argc != 4 || napi_get_value_int32(env, argv[0], &kind) != napi_ok || (kind != 0 && kind != 1) ||
      !typed(env, argv[1], napi_uint16_array, &src, &m) || !floats(env, argv[2], &dst, &n) || m < n || napi_get_value_bool(env, argv[3], &add) != napi_ok)
    return fail(env, "wireDecode takes a kind (0 or 1), a Uint16Array, a Float32Array no longer and a boolean");
  ringtrain::wireDecode(kind, static_cast<const uint16_t*>(src), dst, static_cast<int64_t>(n), add);
  return nullptr;
}

// gatherDecoded(bytes: Uint8Array, table: Float32Array, channels, idx: Int32Array, features, out: Float32Array)
napi_value GatherDecoded(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void *bytes = nullptr, *table = nullptr, *idx = nullptr, *out = nullptr;
  size_t nBytes = 0, nTable = 0, rows = 0, nOut = 0;
  int64_t channels = 0, features = 0;
  if (argc != 6 || !typed(env, argv[0], napi_uint8_array, &bytes, &nBytes) || !typed(env, argv[1], napi_float32_array, &table, &nTable) ||
      napi_get_value_int64(env, argv[2], &channels) != napi_ok || !typed(env, argv[3], napi_int32_array, &idx, &rows) ||
      napi_get_value_int64(env, argv[4], &features) != napi_ok || !typed(env, argv[5], napi_float32_array, &out, &nOut)) {
    return fail(env, "gatherDecoded(bytes: Uint8Array, table: Float32Array, channels, idx: Int32Array, features, out: Float32Array)");
  }
  if (channels < 1 || features < 0 || nTable < static_cast<size_t>(channels) * 256 || nOut < rows * static_cast<size_t>(features)) {
    return fail(env, "gatherDecoded: the table or the output is too small");
  }
  const int32_t* rowsAt = static_cast<const int32_t*>(idx);
  for (size_t p = 0; p < rows; p++) {
    if (rowsAt[p] < 0 || (static_cast<size_t>(rowsAt[p]) + 1) * static_cast<size_t>(features) > nBytes) return fail(env, "gatherDecoded: a row index is outside the data");
  }
  ringtrain::gatherDecoded(static_cast<const uint8_t*>(bytes), static_cast<const float*>(table), channels, rowsAt, static_cast<int64_t>(rows), features, static_cast<float*>(out));
  return nullptr;
}

// A string argument, or false.
bool text(napi_env env, napi_value v, std::string* out) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) return false;
  out->resize(len + 1);
  if (napi_get_value_string_utf8(env, v, &(*out)[0], len + 1, &len) != napi_ok) return false;
  out->resize(len);
  return true;
}

void unmapFinalizer(napi_env, void* data, void* hint) { ringtrain::unmapShared(data, reinterpret_cast<size_t>(hint)); }

// mapShared(path, bytes, create): an ArrayBuffer over a shared file, unmapped when collected.
// Throws an Error with the reason (errno text) when the file cannot be created or mapped.
napi_value MapShared(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  std::string path;
  int64_t bytes = 0;
  bool create = false;
  if (argc != 3 || !text(env, argv[0], &path) || !readInt64(env, argv[1], &bytes) || napi_get_value_bool(env, argv[2], &create) != napi_ok || bytes <= 0) {
    return fail(env, "mapShared(path: string, bytes: positive integer, create: boolean)");
  }
  ringtrain::SharedMapping m = ringtrain::mapSharedFile(path.c_str(), static_cast<size_t>(bytes), create);
  if (m.data == nullptr) {
    napi_throw_error(env, nullptr, m.error.c_str());
    return nullptr;
  }
  napi_value ab;
  if (napi_create_external_arraybuffer(env, m.data, m.bytes, unmapFinalizer, reinterpret_cast<void*>(m.bytes), &ab) != napi_ok) {
    ringtrain::unmapShared(m.data, m.bytes);
    napi_throw_error(env, nullptr, "mapShared: cannot wrap the mapping in an ArrayBuffer");
    return nullptr;
  }
  return ab;
}

// unlinkShared(path): removes the file (the mappings stay valid); returns '' or the reason.
napi_value UnlinkShared(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  std::string path;
  if (argc != 1 || !text(env, argv[0], &path)) return fail(env, "unlinkShared(path: string)");
  const int err = ringtrain::unlinkSharedFile(path.c_str());
  napi_value out;
  napi_create_string_utf8(env, err == 0 ? "" : std::strerror(err), NAPI_AUTO_LENGTH, &out);
  return out;
}

// copyStreaming(dst: Float32Array, src: Float32Array): dst[i] = src[i] for the shorter length (shm.cc).
napi_value CopyStreaming(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  float* dst = nullptr;
  float* src = nullptr;
  size_t nd = 0;
  size_t ns = 0;
  if (argc != 2 || !floats(env, argv[0], &dst, &nd) || !floats(env, argv[1], &src, &ns)) return fail(env, "copyStreaming(dst: Float32Array, src: Float32Array)");
  ringtrain::copyStreaming(dst, src, nd < ns ? nd : ns);
  return nullptr;
}

// addScaled(dst: Float32Array, src: Float32Array, scale: number): dst[i] = (dst[i] + src[i]) * scale for the shorter length (shm.cc).
// addScaled's and addScaledSquares' first three arguments: dst and src (the shorter length) and scale.
bool addArgs(napi_env env, const napi_value* argv, float** dst, float** src, size_t* n, double* scale) {
  size_t nd = 0;
  size_t ns = 0;
  if (!floats(env, argv[0], dst, &nd) || !floats(env, argv[1], src, &ns) || napi_get_value_double(env, argv[2], scale) != napi_ok) return false;
  *n = nd < ns ? nd : ns;
  return true;
}

napi_value AddScaled(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  float* dst = nullptr;
  float* src = nullptr;
  size_t n = 0;
  double scale = 0;
  if (argc != 3 || !addArgs(env, argv, &dst, &src, &n, &scale)) return fail(env, "addScaled(dst: Float32Array, src: Float32Array, scale: number)");
  ringtrain::addScaled(dst, src, n, static_cast<float>(scale));
  return nullptr;
}

// addScaledSquares(dst, src, scale, squaresUpTo[, both]): addScaled, then the sum of squares of
// dst[0, squaresUpTo); with both true the results go to src as well (addScaledSquaresBoth).
napi_value AddScaledSquares(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  float* dst = nullptr;
  float* src = nullptr;
  size_t n = 0;
  double scale = 0;
  int64_t upTo = 0;
  bool both = false;
  const bool bothOk = argc < 5 || napi_get_value_bool(env, argv[4], &both) == napi_ok;
  if (argc < 4 || !addArgs(env, argv, &dst, &src, &n, &scale) || !readInt64(env, argv[3], &upTo) || upTo < 0 || !bothOk) {
    return fail(env, "addScaledSquares(dst: Float32Array, src: Float32Array, scale: number, squaresUpTo: integer >= 0, both?: boolean)");
  }
  const float k = static_cast<float>(scale);
  const size_t m = static_cast<size_t>(upTo);
  napi_value out;
  napi_create_double(env, both ? ringtrain::addScaledSquaresBoth(dst, src, n, k, m) : ringtrain::addScaledSquares(dst, src, n, k, m), &out);
  return out;
}

// futexWait(words: Int32Array, index, expected, timeoutMicros): 0 woken, 1 timed out, 2 changed, 3 other
napi_value FutexWait(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t* words = nullptr;
  size_t n = 0;
  int64_t v[3] = {0, 0, 0};
  bool ok = argc == 4 && typed(env, argv[0], napi_int32_array, reinterpret_cast<void**>(&words), &n);
  for (int i = 0; ok && i < 3; i++) ok = readInt64(env, argv[i + 1], &v[i]);
  if (!ok || v[0] < 0 || static_cast<size_t>(v[0]) >= n || v[2] < 0 || v[2] > 60000000) {
    return fail(env, "futexWait(words: Int32Array, index inside it, expected: int32, timeoutMicros: 0 to 60e6)");
  }
  napi_value out;
  napi_create_int32(env, ringtrain::futexWait(words + v[0], static_cast<int32_t>(v[1]), v[2]), &out);
  return out;
}

// futexWake(words: Int32Array, index): how many sleepers woke
napi_value FutexWake(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int32_t* words = nullptr;
  size_t n = 0;
  int64_t index = 0;
  if (argc != 2 || !typed(env, argv[0], napi_int32_array, reinterpret_cast<void**>(&words), &n) || !readInt64(env, argv[1], &index) || index < 0 || static_cast<size_t>(index) >= n) {
    return fail(env, "futexWake(words: Int32Array, index inside it)");
  }
  napi_value out;
  napi_create_int32(env, ringtrain::futexWake(words + index, 1), &out);
  return out;
}

// bindToCpus(cpus: number[]): binds every thread of this process to those CPUs; returns '' or why not.
napi_value BindToCpus(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  bool isArray = false;
  uint32_t n = 0;
  if (argc != 1 || napi_is_array(env, argv[0], &isArray) != napi_ok || !isArray || napi_get_array_length(env, argv[0], &n) != napi_ok || n == 0) {
    return fail(env, "bindToCpus(cpus: non-empty array of CPU numbers)");
  }
  std::vector<int> cpus;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    int64_t c = 0;
    if (napi_get_element(env, argv[0], i, &v) != napi_ok || !readInt64(env, v, &c)) return fail(env, "bindToCpus: every CPU must be an integer");
    cpus.push_back(static_cast<int>(c));
  }
  const std::string why = ringtrain::bindProcessToCpus(cpus);
  napi_value out;
  napi_create_string_utf8(env, why.c_str(), NAPI_AUTO_LENGTH, &out);
  return out;
}

// retainFreedMemory(mmapThreshold, trimThreshold, topPad): '' when applied, else why not.
napi_value RetainFreedMemory(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  int64_t v[3];
  for (int i = 0; i < 3; i++) {
    if (static_cast<size_t>(i) >= argc || !readInt64(env, argv[i], &v[i]) || v[i] < 0 || v[i] > INT32_MAX) {
      return fail(env, "retainFreedMemory(mmapThreshold, trimThreshold, topPad): byte counts from 0 to 2^31-1");
    }
  }
  const std::string why = ringtrain::retainFreedMemory(static_cast<long>(v[0]), static_cast<long>(v[1]), static_cast<long>(v[2]));
  napi_value out;
  napi_create_string_utf8(env, why.c_str(), NAPI_AUTO_LENGTH, &out);
  return out;
}


napi_value Init(napi_env env, napi_value exports) {
  exportFunction(env, exports, "sgemm", Sgemm);
  exportFunction(env, exports, "sgd", Sgd);
  exportFunction(env, exports, "adam", Adam);
  exportFunction(env, exports, "rmsprop", RmsProp);
  exportFunction(env, exports, "sumSquares", SumSquares);
  exportFunction(env, exports, "scaleBy", ScaleBy);
  exportFunction(env, exports, "histogram", Histogram);
  exportFunction(env, exports, "sumSquaredDiff", SumSquaredDiff);
  exportFunction(env, exports, "gatherDecoded", GatherDecoded);
  exportFunction(env, exports, "wireEncode", WireEncode);
  exportFunction(env, exports, "wireDecode", WireDecode);
  exportFunction(env, exports, "mapShared", MapShared);
  exportFunction(env, exports, "unlinkShared", UnlinkShared);
  exportFunction(env, exports, "copyStreaming", CopyStreaming);
  exportFunction(env, exports, "addScaled", AddScaled);
  exportFunction(env, exports, "addScaledSquares", AddScaledSquares);
  exportFunction(env, exports, "futexWait", FutexWait);
  exportFunction(env, exports, "futexWake", FutexWake);
  exportFunction(env, exports, "bindToCpus", BindToCpus);
  exportFunction(env, exports, "retainFreedMemory", RetainFreedMemory);
  ringtrain::exportStepFunctions(env, exports);
  ringtrain::exportHeapFunctions(env, exports);
  napi_value name;
  napi_create_string_utf8(env, ringtrain::sgemmKernelName(), NAPI_AUTO_LENGTH, &name);
  napi_set_named_property(env, exports, "kernel", name);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
