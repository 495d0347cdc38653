// A whole local training step (forward, loss, backward) of a plain layer stack in one native
// call: dense, 2-D convolution ('valid', stride 1) and max pooling layers with their activations,
// ending in a dense layer of logits under softmax cross-entropy. The tfjs engine spends several
// microseconds of bookkeeping per op and computes gradients nobody reads (the input batch's);
// here each layer is one matrix product plus a fused loop, straight out of the flat weights and
// into the flat gradient buffer the all-reduce sends.
#pragma once
#include <cstdint>

namespace ringtrain {

enum StepOpKind : int32_t { kDense = 0, kConv = 1, kMaxPool = 2 };
// kLeakyRelu's slope is torch's default, 0.01.
enum StepAct : int32_t { kLinear = 0, kRelu = 1, kTanh = 2, kSigmoid = 3, kLeakyRelu = 4 };

// One layer. Shapes are per sample, channels last. Dense: cin inputs -> cout outputs (h = w = 1).
// Conv: h x w x cin -> (h-kh+1) x (w-kw+1) x cout, kernel [kh, kw, cin, cout] row-major (tfjs's).
// MaxPool: h x w x cin -> (h/pool) x (w/pool) x cin, window and stride `pool`.
struct StepOp {
  int32_t kind, act, h, w, cin, cout, kh, kw, pool;
  int64_t wOff, bOff;  // float offsets of the kernel and bias in params/grads; bOff < 0: no bias
};

// Floats of one sample's output of `op`.
int64_t stepOpOutputSize(const StepOp& op);

struct StepLoss {
  float smoothing;             // torch's label_smoothing
  const float* classWeights;   // one per class, or null
};

struct StepResult {
  double objective;  // mean over rows of the (smoothed, weighted) cross-entropy, as loss.ts computes it
  int32_t correct;   // rows whose first maximal logit is the label
};

// Forward and backward of `rows` samples x (flat rows, the first op's input) with labels y.
// The gradient of the objective goes into grads at each op's offsets (added with `accumulate`).
// With `seconds` (2 x nops + 1 slots) each op's forward time is added to slot 2i, its backward
// to 2i + 1, and the loss to the last slot: the per-layer profile.
// With `stopAt` > 0 the backward pass stops after op stopAt (the later ops' gradients are final,
// so the caller can send them while fusedBackward computes the earlier ones); its buffers stay
// in workspace `slot` of this thread until then.
StepResult fusedStep(const StepOp* ops, int nops, const float* params, float* grads, const float* x, const int32_t* y, int rows,
                     bool accumulate, const StepLoss& loss, double* seconds = nullptr, int stopAt = 0, int slot = 0);

// Continues the backward pass fusedStep stopped, down to op `downTo` (same ops, params, grads,
// x, rows and accumulate, on the same thread). False when no pass waits at or above downTo.
bool fusedBackward(const StepOp* ops, int nops, const float* params, float* grads, const float* x, int rows, bool accumulate, int downTo, int slot = 0);

// Whether this CPU runs the step (AVX2 + FMA: its loops are compiled for them). Defined in
// peak.cc, which is compiled for any x86-64, so asking is safe everywhere.
bool fusedStepAvailable();

// Logits only (no gradient): forward of `rows` samples into out (rows x classes).
void fusedForward(const StepOp* ops, int nops, const float* params, const float* x, int rows, float* out);

}  // namespace ringtrain
