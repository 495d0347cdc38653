// See fused-step.h. Every layer keeps its output for the backward pass (a convolution also its
// im2col matrix, a pool its argmax), in buffers that live as long as the thread.
#include "fused-step.h"

#include <algorithm>
#include <chrono>
#include <new>
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "gemm-direct.h"

// The layers' own loops (im2col, pooling, activations) are memory-bound and vectorize well; the
// addon only calls into this file on a CPU with AVX2 + FMA (fusedStepAvailable).
#pragma GCC target("avx2,fma")

namespace ringtrain {
namespace {

struct Shape {
  int64_t h, w, c;
};

Shape outShape(const StepOp& op) {
  switch (op.kind) {
    case kConv:
      return {op.h - op.kh + 1, op.w - op.kw + 1, op.cout};
    case kMaxPool:
      return {op.h / op.pool, op.w / op.pool, op.cin};
    default:
      return {1, 1, op.cout};
  }
}

int64_t inSize(const StepOp& op) { return static_cast<int64_t>(op.h) * op.w * op.cin; }

// Rows of the im2col matrix per sample, and its row length.
int64_t colRows(const StepOp& op) { return op.kind == kConv ? (op.h - op.kh + 1) * static_cast<int64_t>(op.w - op.kw + 1) : 0; }
int64_t colLen(const StepOp& op) { return static_cast<int64_t>(op.kh) * op.kw * op.cin; }

// Cache-line aligned storage: a 64-byte vector load or store that straddles two lines costs two
// (the direct product's loads and stores of B and C measured ~13% slower misaligned).
template <typename T>
struct LineAllocator {
  using value_type = T;
  LineAllocator() = default;
  template <typename U>
  LineAllocator(const LineAllocator<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(64)); }
  bool operator==(const LineAllocator&) const { return true; }
  bool operator!=(const LineAllocator&) const { return false; }
};

template <typename T>
using Lines = std::vector<T, LineAllocator<T>>;

struct Workspace {
  Lines<float> outs;        // every op's output, op after op
  Lines<float> cols;        // every conv's im2col matrix
  Lines<int32_t> argmax;    // every pool's argmax (flat input index)
  Lines<float> gradA, gradB;
  std::vector<int64_t> outAt, colAt, argAt;
  // A backward pass stopped early (fusedStep's stopAt): the next op to run, and whether the
  // gradient of its output is in gradA.
  int pending = -1;
  bool gInA = true;
};

// Slot 0 serves whole steps and forwards; a paused backward pass keeps its slot's buffers until
// fusedBackward, so two steps paused on one thread (ranks of one test process) need two slots.
Workspace& workspace(const StepOp* ops, int nops, int rows, int slot = 0) {
  static thread_local std::vector<std::unique_ptr<Workspace>> slots;
  if (static_cast<int>(slots.size()) <= slot) slots.resize(slot + 1);
  if (!slots[slot]) slots[slot] = std::make_unique<Workspace>();
  Workspace& ws = *slots[slot];
  ws.outAt.assign(nops, 0);
  ws.colAt.assign(nops, 0);
  ws.argAt.assign(nops, 0);
  int64_t outs = 0, cols = 0, args = 0, widest = 0;
  for (int i = 0; i < nops; i++) {
    const StepOp& op = ops[i];
    const int64_t out = stepOpOutputSize(op) * rows;
    // Every region starts on a cache line (16 floats), like the buffers themselves.
    auto line = [](int64_t n) { return (n + 15) / 16 * 16; };
    ws.outAt[i] = outs;
    outs += line(out);
    ws.colAt[i] = cols;
    cols += line(colRows(op) * colLen(op) * rows);
    ws.argAt[i] = args;
    if (op.kind == kMaxPool) args += out;
    widest = std::max({widest, out, inSize(op) * rows});
  }
  if (static_cast<int64_t>(ws.outs.size()) < outs) ws.outs.resize(outs);
  if (static_cast<int64_t>(ws.cols.size()) < cols) ws.cols.resize(cols);
  if (static_cast<int64_t>(ws.argmax.size()) < args) ws.argmax.resize(args);
  if (static_cast<int64_t>(ws.gradA.size()) < widest) ws.gradA.resize(widest);
  if (static_cast<int64_t>(ws.gradB.size()) < widest) ws.gradB.resize(widest);
  return ws;
}

constexpr float kLeakySlope = 0.01f;

float activate(int act, float v) {
  switch (act) {
    case kRelu:
      return v < 0.0f ? 0.0f : v;  // NaN stays NaN, as in torch
    case kTanh:
      return std::tanh(v);
    case kSigmoid:
      return 1.0f / (1.0f + std::exp(-v));
    case kLeakyRelu:
      return v < 0.0f ? kLeakySlope * v : v;
    default:
      return v;
  }
}

// out[r][j] = act(out[r][j] + bias[j]) over `n` rows of `cols` values.
void biasActivate(float* out, int64_t n, int cols, const float* bias, int act) {
  for (int64_t r = 0; r < n; r++) {
    float* row = out + r * cols;
    if (bias != nullptr) {
      for (int j = 0; j < cols; j++) row[j] += bias[j];
    }
    if (act == kRelu) {
      for (int j = 0; j < cols; j++) row[j] = row[j] < 0.0f ? 0.0f : row[j];
    } else if (act != kLinear) {
      for (int j = 0; j < cols; j++) row[j] = activate(act, row[j]);
    }
  }
}

// g *= act'(out), the derivative written in terms of the activation's output.
void activationGrad(float* __restrict g, const float* __restrict out, int64_t n, int act) {
  switch (act) {
    case kRelu:
      for (int64_t i = 0; i < n; i++) g[i] = out[i] > 0.0f ? g[i] : 0.0f;
      break;
    case kTanh:
      for (int64_t i = 0; i < n; i++) g[i] *= 1.0f - out[i] * out[i];
      break;
    case kSigmoid:
      for (int64_t i = 0; i < n; i++) g[i] *= out[i] * (1.0f - out[i]);
      break;
    case kLeakyRelu:
      for (int64_t i = 0; i < n; i++) g[i] = out[i] > 0.0f ? g[i] : kLeakySlope * g[i];
      break;
    default:
      break;
  }
}

// One sample's im2col: row (oy, ox) holds the kh x kw x cin window at (oy, ox), kernel order.
void im2col(const StepOp& op, const float* __restrict in, float* __restrict col) {
  const int oh = op.h - op.kh + 1, ow = op.w - op.kw + 1;
  const int run = op.kw * op.cin;  // one kernel row of the window is contiguous in the input
  for (int oy = 0; oy < oh; oy++) {
    for (int ox = 0; ox < ow; ox++) {
      for (int ky = 0; ky < op.kh; ky++) {
        const float* src = in + (static_cast<int64_t>(oy + ky) * op.w + ox) * op.cin;
        for (int q = 0; q < run; q++) col[q] = src[q];
        col += run;
      }
    }
  }
}

// The adjoint of im2col: each window's gradient added back into the input's gradient.
void col2im(const StepOp& op, const float* __restrict col, float* __restrict in) {
  const int oh = op.h - op.kh + 1, ow = op.w - op.kw + 1;
  const int run = op.kw * op.cin;
  std::memset(in, 0, inSize(op) * sizeof(float));
  for (int oy = 0; oy < oh; oy++) {
    for (int ox = 0; ox < ow; ox++) {
      for (int ky = 0; ky < op.kh; ky++) {
        float* dst = in + (static_cast<int64_t>(oy + ky) * op.w + ox) * op.cin;
        for (int q = 0; q < run; q++) dst[q] += col[q];
        col += run;
      }
    }
  }
}

// 2 x 2 windows, the common pool: the four candidates of a channel are compared in registers
// and stored once, so the loop over channels vectorizes straight through.
void maxPool2Forward(const StepOp& op, const float* __restrict in, float* __restrict out, int32_t* __restrict arg) {
  const int oh = op.h / 2, ow = op.w / 2, c = op.cin;
  const int32_t down = op.w * c;  // the next input row
  for (int oy = 0; oy < oh; oy++) {
    for (int ox = 0; ox < ow; ox++) {
      const int32_t p0 = (2 * oy * op.w + 2 * ox) * c, p1 = p0 + c, p2 = p0 + down, p3 = p2 + c;
      for (int ch = 0; ch < c; ch++) {
        // Strictly greater, in window order: the first maximum wins, as tfjs's does.
        float best = in[p0 + ch];
        int32_t at = p0 + ch;
        const float v1 = in[p1 + ch], v2 = in[p2 + ch], v3 = in[p3 + ch];
        at = v1 > best ? p1 + ch : at;
        best = v1 > best ? v1 : best;
        at = v2 > best ? p2 + ch : at;
        best = v2 > best ? v2 : best;
        at = v3 > best ? p3 + ch : at;
        best = v3 > best ? v3 : best;
        out[ch] = best;
        arg[ch] = at;
      }
      out += c;
      arg += c;
    }
  }
}

void maxPoolForward(const StepOp& op, const float* __restrict in, float* __restrict out, int32_t* __restrict arg) {
  if (op.pool == 2) {
    maxPool2Forward(op, in, out, arg);
    return;
  }
  const int oh = op.h / op.pool, ow = op.w / op.pool, c = op.cin;
  for (int oy = 0; oy < oh; oy++) {
    for (int ox = 0; ox < ow; ox++) {
      const int32_t first = (oy * op.pool * op.w + ox * op.pool) * c;
      for (int ch = 0; ch < c; ch++) {
        out[ch] = in[first + ch];
        arg[ch] = first + ch;
      }
      for (int dy = 0; dy < op.pool; dy++) {
        for (int dx = 0; dx < op.pool; dx++) {
          const int32_t at = ((oy * op.pool + dy) * op.w + ox * op.pool + dx) * c;
          // Strictly greater: the first maximum of the window wins, as tfjs's does.
          for (int ch = 0; ch < c; ch++) {
            const float v = in[at + ch];
            const bool more = v > out[ch];
            out[ch] = more ? v : out[ch];
            arg[ch] = more ? at + ch : arg[ch];
          }
        }
      }
      out += c;
      arg += c;
    }
  }
}

// The adjoint of maxPoolForward for one sample: each window's gradient to its argmax, 0 elsewhere.
void maxPoolBackward(const StepOp& op, const float* __restrict g, const int32_t* __restrict arg, float* __restrict gIn) {
  const int oh = op.h / op.pool, ow = op.w / op.pool, c = op.cin;
  std::memset(gIn, 0, inSize(op) * sizeof(float));
  for (int oy = 0; oy < oh; oy++) {
    for (int ox = 0; ox < ow; ox++) {
      for (int dy = 0; dy < op.pool; dy++) {
        for (int dx = 0; dx < op.pool; dx++) {
          const int32_t at = ((oy * op.pool + dy) * op.w + ox * op.pool + dx) * c;
          for (int ch = 0; ch < c; ch++) gIn[at + ch] = arg[ch] == at + ch ? g[ch] : 0.0f;
        }
      }
      g += c;
      arg += c;
    }
  }
}

// Bias and ReLU ride the product's last pass; other activations follow it as a loop.
Epilogue epilogueOf(int act, const float* bias) { return {bias, act == kRelu}; }

void forwardOp(const StepOp& op, const float* params, const float* in, int rows, float* out, float* col, int32_t* arg) {
  const float* bias = op.bOff >= 0 ? params + op.bOff : nullptr;
  if (op.kind == kDense) {
    sgemmDirect(rows, op.cout, op.cin, {in, op.cin, 1}, params + op.wOff, op.cout, out, op.cout, false, epilogueOf(op.act, bias));
    if (op.act != kLinear && op.act != kRelu) biasActivate(out, rows, op.cout, nullptr, op.act);
  } else if (op.kind == kConv) {
    const int64_t per = colRows(op), len = colLen(op);
    for (int r = 0; r < rows; r++) im2col(op, in + r * inSize(op), col + r * per * len);
    const int64_t m = per * rows;
    sgemmDirect(static_cast<int>(m), op.cout, static_cast<int>(len), {col, len, 1}, params + op.wOff, op.cout, out, op.cout, false, epilogueOf(op.act, bias));
    if (op.act != kLinear && op.act != kRelu) biasActivate(out, m, op.cout, nullptr, op.act);
  } else {
    const int64_t outPer = stepOpOutputSize(op);
    for (int r = 0; r < rows; r++) maxPoolForward(op, in + r * inSize(op), out + r * outPer, arg + r * outPer);
  }
}

// out (cols x rows) = in (rows x cols)^T, in blocks so both sides stay in cache.
void transpose(const float* in, int64_t rows, int64_t cols, float* out) {
  constexpr int64_t B = 32;
  for (int64_t i0 = 0; i0 < rows; i0 += B) {
    for (int64_t j0 = 0; j0 < cols; j0 += B) {
      for (int64_t i = i0; i < std::min(rows, i0 + B); i++) {
        for (int64_t j = j0; j < std::min(cols, j0 + B); j++) out[j * rows + i] = in[i * cols + j];
      }
    }
  }
}

// g *= act'(out) and the column sums of the result into db (added with accumulate; db may be
// null), in one pass over g. ReLU, the common case, has its own loop so it vectorizes.
void activationBiasGrad(float* __restrict g, const float* __restrict out, int64_t n, int cols, int act, float* __restrict db, bool accumulate) {
  if (db == nullptr) {
    activationGrad(g, out, n * cols, act);
    return;
  }
  if (!accumulate) std::memset(db, 0, cols * sizeof(float));
  for (int64_t r = 0; r < n; r++) {
    float* __restrict row = g + r * cols;
    const float* __restrict o = out + r * cols;
    if (act == kRelu) {
      for (int j = 0; j < cols; j++) {
        const float v = o[j] > 0.0f ? row[j] : 0.0f;
        row[j] = v;
        db[j] += v;
      }
      continue;
    }
    activationGrad(row, o, cols, act);
    for (int j = 0; j < cols; j++) db[j] += row[j];
  }
}

// Backward through op: g is the gradient of its output (consumed), gIn receives its input's
// (when wantInput).
void backwardOp(const StepOp& op, const float* params, float* grads, const float* in, const float* out, float* col, const int32_t* arg,
                int rows, float* g, float* gIn, bool wantInput, bool accumulate) {
  if (op.kind == kMaxPool) {
    const int64_t outPer = stepOpOutputSize(op), per = inSize(op);
    for (int r = 0; r < rows; r++) maxPoolBackward(op, g + r * outPer, arg + r * outPer, gIn + r * per);
    return;
  }
  const bool conv = op.kind == kConv;
  const int64_t m = conv ? colRows(op) * rows : rows;
  const int64_t k = conv ? colLen(op) : op.cin;
  const float* a = conv ? col : in;
  activationBiasGrad(g, out, m, op.cout, op.act, op.bOff >= 0 ? grads + op.bOff : nullptr, accumulate);
  sgemmDirect(static_cast<int>(k), op.cout, static_cast<int>(m), {a, 1, k}, g, op.cout, grads + op.wOff, op.cout, accumulate);
  if (!wantInput) return;
  float* target = conv ? col : gIn;  // a conv's input gradient goes through its (spent) im2col matrix
  // B = W^T, made row-major once so the product reads it in place.
  static thread_local Lines<float> wt;
  if (static_cast<int64_t>(wt.size()) < k * op.cout) wt.resize(k * op.cout);
  transpose(params + op.wOff, k, op.cout, wt.data());
  sgemmDirect(static_cast<int>(m), static_cast<int>(k), op.cout, {g, op.cout, 1}, wt.data(), k, target, k, false);
  if (conv) {
    const int64_t per = colRows(op) * k;
    for (int r = 0; r < rows; r++) col2im(op, col + r * per, gIn + r * inSize(op));
  }
}

// Softmax cross-entropy of logits (rows x classes), its gradient (of the mean) into g.
StepResult crossEntropy(const float* logits, const int32_t* y, int rows, int classes, const StepLoss& loss, float* g) {
  StepResult res{0.0, 0};
  std::vector<float> target(classes);
  const float inv = 1.0f / static_cast<float>(rows);
  for (int r = 0; r < rows; r++) {
    const float* z = logits + static_cast<int64_t>(r) * classes;
    float* gr = g + static_cast<int64_t>(r) * classes;
    const int label = y[r];
    int arg = 0;
    for (int c = 1; c < classes; c++) arg = z[c] > z[arg] ? c : arg;
    if (arg == label) res.correct += 1;
    const float zmax = z[arg];
    double sum = 0.0;
    for (int c = 0; c < classes; c++) sum += std::exp(static_cast<double>(z[c] - zmax));
    const float logSum = static_cast<float>(std::log(sum));
    float total = 0.0f;
    double row = 0.0;
    for (int c = 0; c < classes; c++) {
      float t = (c == label ? 1.0f - loss.smoothing : 0.0f) + loss.smoothing / static_cast<float>(classes);
      if (loss.classWeights != nullptr) t *= loss.classWeights[c];
      target[c] = t;
      total += t;
      row -= static_cast<double>(t) * static_cast<double>(z[c] - zmax - logSum);
    }
    res.objective += row;
    for (int c = 0; c < classes; c++) {
      const float p = static_cast<float>(std::exp(static_cast<double>(z[c] - zmax - logSum)));
      gr[c] = (p * total - target[c]) * inv;
    }
  }
  res.objective /= rows;
  return res;
}

}  // namespace

int64_t stepOpOutputSize(const StepOp& op) {
  const Shape s = outShape(op);
  return s.h * s.w * s.c;
}

void fusedForward(const StepOp* ops, int nops, const float* params, const float* x, int rows, float* out) {
  Workspace& ws = workspace(ops, nops, rows);
  const float* in = x;
  for (int i = 0; i < nops; i++) {
    float* o = i == nops - 1 ? out : ws.outs.data() + ws.outAt[i];
    forwardOp(ops[i], params, in, rows, o, ws.cols.data() + ws.colAt[i], ws.argmax.data() + ws.argAt[i]);
    in = o;
  }
}

StepResult fusedStep(const StepOp* ops, int nops, const float* params, float* grads, const float* x, const int32_t* y, int rows,
                     bool accumulate, const StepLoss& loss, double* seconds, int stopAt, int slot) {
  Workspace& ws = workspace(ops, nops, rows, slot);
  auto outOf = [&](int i) { return ws.outs.data() + ws.outAt[i]; };
  auto t = std::chrono::steady_clock::now();
  // Adds the time since the last mark to seconds[slot], when profiling.
  auto mark = [&](int slot) {
    if (seconds == nullptr) return;
    const auto now = std::chrono::steady_clock::now();
    seconds[slot] += std::chrono::duration<double>(now - t).count();
    t = now;
  };
  for (int i = 0; i < nops; i++) {
    forwardOp(ops[i], params, i == 0 ? x : outOf(i - 1), rows, outOf(i), ws.cols.data() + ws.colAt[i], ws.argmax.data() + ws.argAt[i]);
    mark(2 * i);
  }
  const int classes = ops[nops - 1].cout;
  float* g = ws.gradA.data();
  float* gIn = ws.gradB.data();
  const StepResult res = crossEntropy(outOf(nops - 1), y, rows, classes, loss, g);
  mark(2 * nops);
  for (int i = nops - 1; i >= stopAt; i--) {
    backwardOp(ops[i], params, grads, i == 0 ? x : outOf(i - 1), outOf(i), ws.cols.data() + ws.colAt[i], ws.argmax.data() + ws.argAt[i], rows, g, gIn,
               i > 0, accumulate);
    mark(2 * i + 1);
    std::swap(g, gIn);
  }
  ws.pending = stopAt - 1;
  ws.gInA = g == ws.gradA.data();
  return res;
}

bool fusedBackward(const StepOp* ops, int nops, const float* params, float* grads, const float* x, int rows, bool accumulate, int downTo, int slot) {
  Workspace& ws = workspace(ops, nops, rows, slot);
  if (ws.pending < 0 || downTo < 0 || downTo > ws.pending) return false;
  auto outOf = [&](int i) { return ws.outs.data() + ws.outAt[i]; };
  float* g = ws.gInA ? ws.gradA.data() : ws.gradB.data();
  float* gIn = ws.gInA ? ws.gradB.data() : ws.gradA.data();
  for (int i = ws.pending; i >= downTo; i--) {
    backwardOp(ops[i], params, grads, i == 0 ? x : outOf(i - 1), outOf(i), ws.cols.data() + ws.colAt[i], ws.argmax.data() + ws.argAt[i], rows, g, gIn,
               i > 0, accumulate);
    std::swap(g, gIn);
  }
  ws.pending = downTo - 1;
  ws.gInA = g == ws.gradA.data();
  return true;
}

}  // namespace ringtrain
