// fusedStep / fusedForward / peakGflops for JavaScript. Every size and offset is checked against
// the arrays here, so a wrong plan throws a RangeError instead of reading past a buffer.
#include "addon-step.h"

#include <cstdint>
#include <string>
#include <vector>

#include "fused-step.h"
#include "napi-args.h"
#include "peak.h"

namespace ringtrain {
namespace {

// Int32 fields of one op in the plan array: kind, act, h, w, cin, cout, kh, kw, pool, wOff, bOff.
constexpr size_t kOpFields = 11;

napi_value fail(napi_env env, const std::string& message) {
  napi_throw_range_error(env, nullptr, message.c_str());
  return nullptr;
}


// The plan, checked: shapes chain, offsets inside `params` floats, the last op a dense layer.
bool readPlan(napi_env env, napi_value v, size_t params, std::vector<StepOp>* ops, std::string* why) {
  int32_t* raw = nullptr;
  size_t length = 0;
  if (!typedArg(env, v, napi_int32_array, &raw, &length) || length == 0 || length % kOpFields != 0) {
    *why = "the plan must be an Int32Array of 11 fields per op";
    return false;
  }
  for (size_t i = 0; i < length; i += kOpFields) {
    const int32_t* f = raw + i;
    StepOp op{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], f[10]};
    const bool dims = op.h > 0 && op.w > 0 && op.cin > 0 && (op.kind == kMaxPool || op.cout > 0);
    const bool conv = op.kind != kConv || (op.kh > 0 && op.kw > 0 && op.kh <= op.h && op.kw <= op.w);
    const bool pool = op.kind != kMaxPool || (op.pool > 0 && op.pool <= op.h && op.pool <= op.w);
    const int64_t kernel = op.kind == kDense ? static_cast<int64_t>(op.cin) * op.cout : static_cast<int64_t>(op.kh) * op.kw * op.cin * op.cout;
    const bool weights = op.kind == kMaxPool || (op.wOff >= 0 && op.wOff + kernel <= static_cast<int64_t>(params) && op.bOff + op.cout <= static_cast<int64_t>(params));
    if (op.kind < kDense || op.kind > kMaxPool || op.act < kLinear || op.act > kLeakyRelu || !dims || !conv || !pool || !weights) {
      *why = "op " + std::to_string(i / kOpFields) + " of the plan has a bad kind, shape or offset";
      return false;
    }
    if (!ops->empty() && stepOpOutputSize(ops->back()) != static_cast<int64_t>(op.h) * op.w * op.cin) {
      *why = "op " + std::to_string(i / kOpFields) + " does not take the previous op's output";
      return false;
    }
    ops->push_back(op);
  }
  if (ops->back().kind != kDense || ops->back().act != kLinear) {
    *why = "the plan must end in a dense layer of logits";
    return false;
  }
  return true;
}

// Workspaces a paused backward pass may keep (fused-step.cc).
constexpr int32_t kSlots = 64;

int64_t inputSize(const StepOp& op) { return static_cast<int64_t>(op.h) * op.w * op.cin; }

// fusedStep(plan, params, grads, x, y, rows, accumulate, smoothing, classWeights | null, out: Float64Array[2],
//           profile?: Float64Array[2 x ops + 1] | null, stopAt?: op index where backward stops (0 = all),
//           slot?: workspace of the paused pass (0..63))
napi_value FusedStep(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[13];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc < 10 || argc > 13) return fail(env, "fusedStep takes 10 to 13 arguments");
  float *params = nullptr, *grads = nullptr, *x = nullptr, *weights = nullptr;
  int32_t* y = nullptr;
  double* out = nullptr;
  size_t nParams = 0, nGrads = 0, nX = 0, nY = 0, nWeights = 0, nOut = 0;
  if (!typedArg(env, argv[1], napi_float32_array, &params, &nParams) || !typedArg(env, argv[2], napi_float32_array, &grads, &nGrads) ||
      !typedArg(env, argv[3], napi_float32_array, &x, &nX) || !typedArg(env, argv[4], napi_int32_array, &y, &nY) ||
      !typedArg(env, argv[9], napi_float64_array, &out, &nOut) || nOut < 2) {
    return fail(env, "fusedStep: params, grads, x must be Float32Arrays, y an Int32Array, out a Float64Array of 2");
  }
  if (!fusedStepAvailable()) return fail(env, "fusedStep: this CPU has no AVX2 + FMA");
  std::vector<StepOp> ops;
  std::string why;
  if (!readPlan(env, argv[0], nParams < nGrads ? nParams : nGrads, &ops, &why)) return fail(env, "fusedStep: " + why);
  int32_t rows = 0;
  bool accumulate = false;
  double smoothing = 0;
  if (napi_get_value_int32(env, argv[5], &rows) != napi_ok || napi_get_value_bool(env, argv[6], &accumulate) != napi_ok ||
      napi_get_value_double(env, argv[7], &smoothing) != napi_ok) {
    return fail(env, "fusedStep: rows, accumulate and smoothing must be a number, a boolean and a number");
  }
  const int classes = ops.back().cout;
  if (!isNullArg(env, argv[8]) && (!typedArg(env, argv[8], napi_float32_array, &weights, &nWeights) || nWeights != static_cast<size_t>(classes))) {
    return fail(env, "fusedStep: classWeights must be null or a Float32Array of one weight per class");
  }
  if (rows <= 0 || static_cast<int64_t>(nX) < rows * inputSize(ops[0]) || static_cast<int32_t>(nY) < rows) {
    return fail(env, "fusedStep: rows must be positive and x, y must hold that many samples");
  }
  for (int32_t r = 0; r < rows; r++) {
    if (y[r] < 0 || y[r] >= classes) return fail(env, "fusedStep: label " + std::to_string(y[r]) + " of row " + std::to_string(r) + " is not a class");
  }
  double* profile = nullptr;
  size_t nProfile = 0;
  if (argc >= 11 && !isNullArg(env, argv[10]) && (!typedArg(env, argv[10], napi_float64_array, &profile, &nProfile) || nProfile < 2 * ops.size() + 1)) {
    return fail(env, "fusedStep: the profile must be null or a Float64Array of 2 x ops + 1 slots");
  }
  int32_t stopAt = 0, slot = 0;
  if (argc >= 12 && (napi_get_value_int32(env, argv[11], &stopAt) != napi_ok || stopAt < 0 || stopAt >= static_cast<int32_t>(ops.size()))) {
    return fail(env, "fusedStep: stopAt must be an op index of the plan");
  }
  if (argc == 13 && (napi_get_value_int32(env, argv[12], &slot) != napi_ok || slot < 0 || slot >= kSlots)) return fail(env, "fusedStep: slot must be 0..63");
  const StepResult res = fusedStep(ops.data(), static_cast<int>(ops.size()), params, grads, x, y, rows, accumulate, {static_cast<float>(smoothing), weights},
                                   profile, stopAt, slot);
  out[0] = res.objective;
  out[1] = res.correct;
  return nullptr;
}

// fusedBackward(plan, params, grads, x, rows, accumulate, downTo, slot): the rest of a backward
// pass that fusedStep stopped in workspace `slot`, down to op downTo.
napi_value FusedBackward(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 8) return fail(env, "fusedBackward takes 8 arguments");
  float *params = nullptr, *grads = nullptr, *x = nullptr;
  size_t nParams = 0, nGrads = 0, nX = 0;
  int32_t rows = 0, downTo = 0, slot = 0;
  bool accumulate = false;
  if (!typedArg(env, argv[1], napi_float32_array, &params, &nParams) || !typedArg(env, argv[2], napi_float32_array, &grads, &nGrads) ||
      !typedArg(env, argv[3], napi_float32_array, &x, &nX) || napi_get_value_int32(env, argv[4], &rows) != napi_ok ||
      napi_get_value_bool(env, argv[5], &accumulate) != napi_ok || napi_get_value_int32(env, argv[6], &downTo) != napi_ok ||
      napi_get_value_int32(env, argv[7], &slot) != napi_ok || slot < 0 || slot >= kSlots) {
    return fail(env, "fusedBackward: params, grads, x must be Float32Arrays, rows and downTo numbers, accumulate a boolean, slot 0..63");
  }
  if (!fusedStepAvailable()) return fail(env, "fusedBackward: this CPU has no AVX2 + FMA");
  std::vector<StepOp> ops;
  std::string why;
  if (!readPlan(env, argv[0], nParams < nGrads ? nParams : nGrads, &ops, &why)) return fail(env, "fusedBackward: " + why);
  if (rows <= 0 || static_cast<int64_t>(nX) < rows * inputSize(ops[0])) return fail(env, "fusedBackward: rows must be positive and x must hold that many samples");
  if (!fusedBackward(ops.data(), static_cast<int>(ops.size()), params, grads, x, rows, accumulate, downTo, slot)) {
    return fail(env, "fusedBackward: no backward pass of fusedStep waits at op " + std::to_string(downTo) + " or above");
  }
  return nullptr;
}

// fusedForward(plan, params, x, rows, out: Float32Array of rows x classes)
napi_value FusedForward(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  if (argc != 5) return fail(env, "fusedForward takes 5 arguments");
  float *params = nullptr, *x = nullptr, *out = nullptr;
  size_t nParams = 0, nX = 0, nOut = 0;
  int32_t rows = 0;
  if (!typedArg(env, argv[1], napi_float32_array, &params, &nParams) || !typedArg(env, argv[2], napi_float32_array, &x, &nX) ||
      napi_get_value_int32(env, argv[3], &rows) != napi_ok || !typedArg(env, argv[4], napi_float32_array, &out, &nOut)) {
    return fail(env, "fusedForward: params, x, out must be Float32Arrays and rows a number");
  }
  if (!fusedStepAvailable()) return fail(env, "fusedForward: this CPU has no AVX2 + FMA");
  std::vector<StepOp> ops;
  std::string why;
  if (!readPlan(env, argv[0], nParams, &ops, &why)) return fail(env, "fusedForward: " + why);
  if (rows <= 0 || static_cast<int64_t>(nX) < rows * inputSize(ops[0]) || static_cast<int64_t>(nOut) < static_cast<int64_t>(rows) * ops.back().cout) {
    return fail(env, "fusedForward: rows must be positive and x, out must hold that many samples");
  }
  fusedForward(ops.data(), static_cast<int>(ops.size()), params, x, rows, out);
  return nullptr;
}

// lineOffset(Float32Array) -> how many floats into it the first 64-byte boundary lies (0..15)
napi_value LineOffset(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  float* data = nullptr;
  size_t length = 0;
  if (argc != 1 || !typedArg(env, argv[0], napi_float32_array, &data, &length)) return fail(env, "lineOffset takes a Float32Array");
  const auto address = reinterpret_cast<std::uintptr_t>(data);
  napi_value result;
  napi_create_int32(env, static_cast<int32_t>(((64 - (address & 63)) & 63) / sizeof(float)), &result);
  return result;
}

// peakGflops(seconds) -> GFLOP/s
napi_value PeakGflops(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  double seconds = 0;
  if (argc != 1 || napi_get_value_double(env, argv[0], &seconds) != napi_ok || !(seconds > 0 && seconds <= 60)) {
    return fail(env, "peakGflops takes a duration in seconds (0, 60]");
  }
  napi_value result;
  napi_create_double(env, measurePeakGflops(seconds), &result);
  return result;
}

}  // namespace

void exportStepFunctions(napi_env env, napi_value exports) {
  exportFunction(env, exports, "fusedStep", FusedStep);
  exportFunction(env, exports, "fusedForward", FusedForward);
  exportFunction(env, exports, "fusedBackward", FusedBackward);
  exportFunction(env, exports, "peakGflops", PeakGflops);
  exportFunction(env, exports, "lineOffset", LineOffset);
  napi_value isa;
  napi_create_string_utf8(env, peakIsa(), NAPI_AUTO_LENGTH, &isa);
  napi_set_named_property(env, exports, "peakIsa", isa);
}

}  // namespace ringtrain
