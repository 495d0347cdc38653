// The heap kernels for JavaScript, every offset in floats into the heap's ArrayBuffer:
//   im2col / col2im(heap, toAt, fromAt, n, h, w, c, oh, ow, kh, kw, sh, sw, top, left)
//   binaryOp(heap, op, outAt, aAt, bAt, rows, cols, bPerChannel, swapped)
//   batchNorm(heap, outAt, xAt, meanAt, varianceAt, offsetAt | -1, scaleAt | -1, epsilon, rows, cols)
//   batchNormGrad(heap, dyAt, xAt, meanAt, varianceAt, scaleAt | -1, epsilon, rows, cols,
//                 dxAt, dMeanAt, dVarianceAt, dScaleAt, dOffsetAt)
// Sizes and every buffer's extent are checked here, so a wrong call throws a RangeError instead
// of writing past the heap.
#include "addon-heap.h"

#include <cstdint>

#include "napi-args.h"
#include "channel-ops.h"
#include "patches.h"

namespace ringtrain {
namespace {

constexpr size_t kArgs = 15;

napi_value fail(napi_env env, const char* message) {
  napi_throw_range_error(env, nullptr, message);
  return nullptr;
}

// Sizes and padding non-negative, filter and strides at least 1, all within 32 bits (windows
// that lie wholly in padding are fine: their rows are zeros).
bool sane(const PatchGeometry& g) {
  const int64_t sizes[] = {g.n, g.h, g.w, g.c, g.oh, g.ow, g.top, g.left};
  const int64_t steps[] = {g.kh, g.kw, g.sh, g.sw};
  for (int64_t x : sizes) {
    if (x < 0 || x > INT32_MAX) return false;
  }
  for (int64_t x : steps) {
    if (x < 1 || x > INT32_MAX) return false;
  }
  return true;
}

// Reads the call; false (with a thrown error) when anything is off. `toInput`: the first buffer is the input's shape.
bool readCall(napi_env env, napi_callback_info info, bool toInput, float** to, const float** from, PatchGeometry* g) {
  size_t argc = kArgs;
  napi_value argv[kArgs];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void* data = nullptr;
  size_t bytes = 0;
  if (argc != kArgs || napi_get_arraybuffer_info(env, argv[0], &data, &bytes) != napi_ok) {
    fail(env, "im2col/col2im take the heap's ArrayBuffer, two offsets and 12 geometry numbers");
    return false;
  }
  int64_t v[kArgs - 1];
  for (size_t i = 0; i < kArgs - 1; i++) {
    if (napi_get_value_int64(env, argv[i + 1], &v[i]) != napi_ok) {
      fail(env, "im2col/col2im: offsets and geometry must be integers");
      return false;
    }
  }
  *g = {v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13]};
  const int64_t floats = static_cast<int64_t>(bytes / sizeof(float));
  const int64_t inputSize = g->n * g->h * g->w * g->c;
  const int64_t colsSize = g->n * g->oh * g->ow * g->kh * g->kw * g->c;
  const int64_t toSize = toInput ? inputSize : colsSize;
  const int64_t fromSize = toInput ? colsSize : inputSize;
  if (!sane(*g) || v[0] < 0 || v[1] < 0 || v[0] + toSize > floats || v[1] + fromSize > floats) {
    fail(env, "im2col/col2im: the geometry is invalid or a buffer lies outside the heap");
    return false;
  }
  float* base = static_cast<float*>(data);
  *to = base + v[0];
  *from = base + v[1];
  return true;
}

// im2col (`ToInput` false: the patch matrix from the input) or col2im (true: added back onto it).
template <bool ToInput>
napi_value Patches(napi_env env, napi_callback_info info) {
  float* to = nullptr;
  const float* from = nullptr;
  PatchGeometry g{};
  if (!readCall(env, info, ToInput, &to, &from, &g)) return nullptr;
  if (ToInput) col2imNhwc(g, from, to);
  else im2colNhwc(g, from, to);
  return nullptr;
}

// Reads `count` integer arguments after the heap; false (with a thrown error) when any is off.
bool readInts(napi_env env, napi_callback_info info, size_t count, int64_t* v, float** base, int64_t* floats) {
  size_t argc = 16;
  napi_value argv[16];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void* data = nullptr;
  size_t bytes = 0;
  if (argc != count + 1 || napi_get_arraybuffer_info(env, argv[0], &data, &bytes) != napi_ok) {
    fail(env, "binaryOp/batchNorm: the heap's ArrayBuffer and the documented numbers");
    return false;
  }
  for (size_t i = 0; i < count; i++) {
    double d = 0;
    if (napi_get_value_double(env, argv[i + 1], &d) != napi_ok) {
      fail(env, "binaryOp/batchNorm: offsets and sizes must be numbers");
      return false;
    }
    v[i] = static_cast<int64_t>(d);
  }
  *base = static_cast<float*>(data);
  *floats = static_cast<int64_t>(bytes / sizeof(float));
  return true;
}

// [at, at + size) inside the heap of `floats` floats.
bool within(int64_t at, int64_t size, int64_t floats) { return at >= 0 && size >= 0 && at <= floats - size; }

napi_value BinaryOpCall(napi_env env, napi_callback_info info) {
  int64_t v[8];
  float* base = nullptr;
  int64_t floats = 0;
  if (!readInts(env, info, 8, v, &base, &floats)) return nullptr;
  const int64_t op = v[0], rows = v[4], cols = v[5];
  const bool perChannel = v[6] != 0;
  const bool sizes = op >= 0 && op <= 3 && rows >= 0 && cols >= 0 && rows <= INT32_MAX && cols <= INT32_MAX;
  if (!sizes || !within(v[1], rows * cols, floats) || !within(v[2], rows * cols, floats) ||
      !within(v[3], perChannel ? cols : rows * cols, floats)) {
    return fail(env, "binaryOp: an unknown operation, or a buffer lies outside the heap");
  }
  binaryOp(static_cast<BinaryOp>(op), base + v[2], base + v[3], base + v[1], rows, cols, perChannel, v[7] != 0);
  return nullptr;
}

napi_value BatchNormCall(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  double epsilon = 0;
  if (argc != 10 || napi_get_value_double(env, argv[7], &epsilon) != napi_ok) return fail(env, "batchNorm takes 10 arguments, the 8th the epsilon");
  int64_t v[9];
  float* base = nullptr;
  int64_t floats = 0;
  if (!readInts(env, info, 9, v, &base, &floats)) return nullptr;
  const int64_t rows = v[7], cols = v[8];
  const bool sizes = rows >= 0 && cols >= 0 && rows <= INT32_MAX && cols <= INT32_MAX;
  const bool vectors = within(v[2], cols, floats) && within(v[3], cols, floats) && (v[4] == -1 || within(v[4], cols, floats)) &&
                       (v[5] == -1 || within(v[5], cols, floats));
  if (!sizes || !vectors || !within(v[0], rows * cols, floats) || !within(v[1], rows * cols, floats)) {
    return fail(env, "batchNorm: a buffer lies outside the heap");
  }
  const float* offset = v[4] == -1 ? nullptr : base + v[4];
  const float* scale = v[5] == -1 ? nullptr : base + v[5];
  batchNormChannels(base + v[1], base + v[2], base + v[3], offset, scale, static_cast<float>(epsilon), base + v[0], rows, cols);
  return nullptr;
}

napi_value BatchNormGradCall(napi_env env, napi_callback_info info) {
  size_t argc = 14;
  napi_value argv[14];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  double epsilon = 0;
  if (argc != 14 || napi_get_value_double(env, argv[6], &epsilon) != napi_ok) return fail(env, "batchNormGrad takes 14 arguments, the 7th the epsilon");
  int64_t v[13];
  float* base = nullptr;
  int64_t floats = 0;
  if (!readInts(env, info, 13, v, &base, &floats)) return nullptr;
  const int64_t rows = v[6], cols = v[7];
  bool ok = rows >= 0 && cols >= 0 && rows <= INT32_MAX && cols <= INT32_MAX;
  ok = ok && within(v[0], rows * cols, floats) && within(v[1], rows * cols, floats) && within(v[8], rows * cols, floats);
  const int vectors[] = {2, 3, 9, 10, 11, 12};
  for (int i : vectors) ok = ok && within(v[i], cols, floats);
  ok = ok && (v[4] == -1 || within(v[4], cols, floats));
  if (!ok) return fail(env, "batchNormGrad: a buffer lies outside the heap");
  const float* scale = v[4] == -1 ? nullptr : base + v[4];
  const BatchNormGrads out{base + v[8], base + v[9], base + v[10], base + v[11], base + v[12]};
  batchNormGradChannels(base + v[0], base + v[1], base + v[2], base + v[3], scale, static_cast<float>(epsilon), rows, cols, out);
  return nullptr;
}

}  // namespace

void exportHeapFunctions(napi_env env, napi_value exports) {
  exportFunction(env, exports, "im2col", Patches<false>);
  exportFunction(env, exports, "col2im", Patches<true>);
  exportFunction(env, exports, "binaryOp", BinaryOpCall);
  exportFunction(env, exports, "batchNorm", BatchNormCall);
  exportFunction(env, exports, "batchNormGrad", BatchNormGradCall);
}

}  // namespace ringtrain
