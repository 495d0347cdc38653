// The heap kernels for JavaScript, every offset in floats into the heap's ArrayBuffer:
//   im2col / col2im(heap, toAt, fromAt, n, h, w, c, oh, ow, kh, kw, sh, sw, top, left)
//   binaryOp(heap, op, outAt, aAt, bAt, rows, cols, layout (0 same, 1 channel, 2 scalar), swapped)
//   batchNorm(heap, outAt, xAt, meanAt, varianceAt, offsetAt | -1, scaleAt | -1, epsilon, rows, cols)
//   batchNormGrad(heap, dyAt, xAt, meanAt, varianceAt, scaleAt | -1, epsilon, rows, cols,
//                 dxAt, dMeanAt, dVarianceAt, dScaleAt, dOffsetAt)
//   momentsGrad(heap, xAt, meanAt, dMeanAt, dVarianceAt, rows, cols, dxAt)
//   variance(heap, xAt, meanAt, rows, cols, outAt)
//   columnSum(heap, xAt, rows, cols, outAt)
// Sizes and every buffer's extent are checked here, so a wrong call throws a RangeError instead
// of writing past the heap.
#include "addon-heap.h"

#include <cstdint>
#include <initializer_list>
#include <string>

#include "napi-args.h"
#include "channel-ops.h"
#include "patches.h"
#include "conv-one-channel.h"

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

// [at, at + size) inside the heap of `floats` floats.
bool within(int64_t at, int64_t size, int64_t floats) { return at >= 0 && size >= 0 && at <= floats - size; }

// convOneChannel / convOneChannelFilterGrad(heap, outAt, xAt, otherAt, oc, ...12 geometry numbers):
// `other` is the filter (forward) or dy (the filter's gradient, added to out).
template <bool FilterGrad>
napi_value OneChannel(napi_env env, napi_callback_info info) {
  constexpr size_t kCount = 17;
  const char* what = FilterGrad ? "convOneChannelFilterGrad" : "convOneChannel";
  size_t argc = kCount;
  napi_value argv[kCount];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void* data = nullptr;
  size_t bytes = 0;
  int64_t v[kCount - 1];
  bool ok = argc == kCount && napi_get_arraybuffer_info(env, argv[0], &data, &bytes) == napi_ok;
  for (size_t i = 0; ok && i < kCount - 1; i++) ok = napi_get_value_int64(env, argv[i + 1], &v[i]) == napi_ok;
  if (!ok) return fail(env, (std::string(what) + ": takes the heap's ArrayBuffer, three offsets, the output channels and 12 geometry numbers").c_str());
  const PatchGeometry g{v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]};
  const int64_t oc = v[3], floats = static_cast<int64_t>(bytes / sizeof(float));
  const int64_t taps = g.kh * g.kw, pixels = g.n * g.oh * g.ow;
  const int64_t outSize = FilterGrad ? taps * oc : pixels * oc, otherSize = FilterGrad ? pixels * oc : taps * oc;
  if (!sane(g) || g.c != 1 || oc < 1 || oc > INT32_MAX || taps > kOneChannelMaxTaps || !within(v[0], outSize, floats) ||
      !within(v[1], g.n * g.h * g.w, floats) || !within(v[2], otherSize, floats))
    return fail(env, (std::string(what) + ": one input channel, at most 16 taps, and every buffer inside the heap").c_str());
  const int64_t lanes = oneChannelLanes();
  if (lanes == 0 || oc % lanes != 0) return fail(env, (std::string(what) + ": needs AVX-512 and output channels in multiples of 16; use im2col and sgemm").c_str());
  float* base = static_cast<float*>(data);
  if (FilterGrad) convOneChannelFilterGrad(g, oc, base + v[1], base + v[2], base + v[0]);
  else convOneChannel(g, oc, base + v[1], base + v[2], base + v[0]);
  return nullptr;
}

// A call's numbers after the heap (offsets, sizes, an epsilon), read once, and the heap.
struct Numbers {
  double d[13] = {};
  float* base = nullptr;
  int64_t floats = 0;
  int64_t at(int i) const { return static_cast<int64_t>(d[i]); }
  bool inside(int i, int64_t size) const { return within(at(i), size, floats); }
  // An optional buffer: -1 for none.
  bool insideOrNone(int i, int64_t size) const { return at(i) == -1 || inside(i, size); }
  const float* orNull(int i) const { return at(i) == -1 ? nullptr : base + at(i); }
};

// Reads the heap and `count` numbers; false (with a thrown error naming `name`) when any is off.
bool readNumbers(napi_env env, napi_callback_info info, const char* name, size_t count, Numbers* n) {
  size_t argc = 14;
  napi_value argv[14];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void* data = nullptr;
  size_t bytes = 0;
  bool ok = argc == count + 1 && napi_get_arraybuffer_info(env, argv[0], &data, &bytes) == napi_ok;
  for (size_t i = 0; ok && i < count; i++) ok = napi_get_value_double(env, argv[i + 1], &n->d[i]) == napi_ok;
  if (!ok) {
    napi_throw_range_error(env, nullptr, (std::string(name) + ": takes the heap's ArrayBuffer and " + std::to_string(count) + " numbers").c_str());
    return false;
  }
  n->base = static_cast<float*>(data);
  n->floats = static_cast<int64_t>(bytes / sizeof(float));
  return true;
}

bool sizesFit(int64_t rows, int64_t cols) { return rows >= 0 && cols >= 0 && rows <= INT32_MAX && cols <= INT32_MAX; }

// (op, outAt, aAt, bAt, rows, cols, layout, swapped); see channel-ops.h.
napi_value BinaryOpCall(napi_env env, napi_callback_info info) {
  Numbers n;
  if (!readNumbers(env, info, "binaryOp", 8, &n)) return nullptr;
  const int64_t op = n.at(0), rows = n.at(4), cols = n.at(5), layout = n.at(6);
  const int64_t bLength = layout == 0 ? rows * cols : layout == 1 ? cols : 1;
  if (op < 0 || op > 5 || layout < 0 || layout > 2 || !sizesFit(rows, cols) || !n.inside(1, rows * cols) ||
      !n.inside(2, rows * cols) || !n.inside(3, bLength)) {
    return fail(env, "binaryOp: an unknown operation or layout, or a buffer lies outside the heap");
  }
  binaryOp(static_cast<BinaryOp>(op), n.base + n.at(2), n.base + n.at(3), n.base + n.at(1), rows, cols, static_cast<Broadcast>(layout), n.at(7) != 0);
  return nullptr;
}

// (outAt, xAt, meanAt, varianceAt, offsetAt | -1, scaleAt | -1, epsilon, rows, cols).
napi_value BatchNormCall(napi_env env, napi_callback_info info) {
  Numbers n;
  if (!readNumbers(env, info, "batchNorm", 9, &n)) return nullptr;
  const int64_t rows = n.at(7), cols = n.at(8);
  if (!sizesFit(rows, cols) || !n.inside(0, rows * cols) || !n.inside(1, rows * cols) || !n.inside(2, cols) ||
      !n.inside(3, cols) || !n.insideOrNone(4, cols) || !n.insideOrNone(5, cols)) {
    return fail(env, "batchNorm: a buffer lies outside the heap");
  }
  const float eps = static_cast<float>(n.d[6]);
  batchNormChannels(n.base + n.at(1), n.base + n.at(2), n.base + n.at(3), n.orNull(4), n.orNull(5), eps, n.base + n.at(0), rows, cols);
  return nullptr;
}

// (dyAt, xAt, meanAt, varianceAt, scaleAt | -1, epsilon, rows, cols, dxAt, dMeanAt, dVarianceAt,
// dScaleAt, dOffsetAt).
napi_value BatchNormGradCall(napi_env env, napi_callback_info info) {
  Numbers n;
  if (!readNumbers(env, info, "batchNormGrad", 13, &n)) return nullptr;
  const int64_t rows = n.at(6), cols = n.at(7);
  bool ok = sizesFit(rows, cols) && n.inside(0, rows * cols) && n.inside(1, rows * cols) && n.inside(8, rows * cols);
  for (int i : {2, 3, 9, 10, 11, 12}) ok = ok && n.inside(i, cols);
  if (!ok || !n.insideOrNone(4, cols)) return fail(env, "batchNormGrad: a buffer lies outside the heap");
  const BatchNormGrads out{n.base + n.at(8), n.base + n.at(9), n.base + n.at(10), n.base + n.at(11), n.base + n.at(12)};
  const float eps = static_cast<float>(n.d[5]);
  batchNormGradChannels(n.base + n.at(0), n.base + n.at(1), n.base + n.at(2), n.base + n.at(3), n.orNull(4), eps, rows, cols, out);
  return nullptr;
}

// (xAt, meanAt, dmeanAt, dvarianceAt, rows, cols, dxAt); see channel-ops.h.
napi_value MomentsGradCall(napi_env env, napi_callback_info info) {
  Numbers n;
  if (!readNumbers(env, info, "momentsGrad", 7, &n)) return nullptr;
  const int64_t rows = n.at(4), cols = n.at(5);
  bool ok = sizesFit(rows, cols) && n.inside(0, rows * cols) && n.inside(6, rows * cols);
  for (int i : {1, 2, 3}) ok = ok && n.inside(i, cols);
  if (!ok) return fail(env, "momentsGrad: a buffer lies outside the heap");
  momentsGradChannels(n.base + n.at(0), n.base + n.at(1), n.base + n.at(2), n.base + n.at(3), rows, cols, n.base + n.at(6));
  return nullptr;
}

// (xAt, meanAt, rows, cols, outAt); see channel-ops.h.
napi_value VarianceCall(napi_env env, napi_callback_info info) {
  Numbers n;
  if (!readNumbers(env, info, "variance", 5, &n)) return nullptr;
  const int64_t rows = n.at(2), cols = n.at(3);
  if (!sizesFit(rows, cols) || !n.inside(0, rows * cols) || !n.inside(1, cols) || !n.inside(4, cols))
    return fail(env, "variance: a buffer lies outside the heap");
  varianceChannels(n.base + n.at(0), n.base + n.at(1), rows, cols, n.base + n.at(4));
  return nullptr;
}

// (xAt, rows, cols, outAt); see channel-ops.h.
napi_value ColumnSumCall(napi_env env, napi_callback_info info) {
  Numbers n;
  if (!readNumbers(env, info, "columnSum", 4, &n)) return nullptr;
  const int64_t rows = n.at(1), cols = n.at(2);
  if (!sizesFit(rows, cols) || !n.inside(0, rows * cols) || !n.inside(3, cols)) return fail(env, "columnSum: a buffer lies outside the heap");
  columnSums(n.base + n.at(0), rows, cols, n.base + n.at(3));
  return nullptr;
}

}  // namespace

void exportHeapFunctions(napi_env env, napi_value exports) {
  exportFunction(env, exports, "im2col", Patches<false>);
  exportFunction(env, exports, "col2im", Patches<true>);
  exportFunction(env, exports, "convOneChannel", OneChannel<false>);
  exportFunction(env, exports, "convOneChannelFilterGrad", OneChannel<true>);
  // What the one-channel kernels take, so callers ask instead of restating it.
  napi_value lanes, maxTaps;
  napi_create_int64(env, oneChannelLanes(), &lanes);
  napi_create_int64(env, kOneChannelMaxTaps, &maxTaps);
  napi_set_named_property(env, exports, "oneChannelLanes", lanes);
  napi_set_named_property(env, exports, "oneChannelMaxTaps", maxTaps);
  exportFunction(env, exports, "binaryOp", BinaryOpCall);
  exportFunction(env, exports, "batchNorm", BatchNormCall);
  exportFunction(env, exports, "batchNormGrad", BatchNormGradCall);
  exportFunction(env, exports, "momentsGrad", MomentsGradCall);
  exportFunction(env, exports, "variance", VarianceCall);
  exportFunction(env, exports, "columnSum", ColumnSumCall);
}

}  // namespace ringtrain
