// The entry points of kernels/optim.h, the same on both devices: optim.h includes this file
// twice, inside namespace cpu and inside namespace cuda, so that each is declared once.
// No #pragma once, on purpose; include optim.h, never this file.

// g = grad + wd*p; if momentum: buf = first_step ? g : momentum*buf + (1-dampening)*g,
// g = nesterov ? g + momentum*buf : buf; p -= lr*g.
// scalars (here and in adamw_step): null, or memory on this device holding the step's
// kSgdScalars / kAdamWScalars numbers (kernels/optim.h) as sgd_write_scalars / adamw_write_scalars
// wrote them from o; the step then reads them there instead of taking o's by value, so that a
// replayed CUDA graph of the step uses the values written before the replay.
template <typename T>
void sgd_step(Stream, const ParamSlice<T>* params, int count, const SgdStepOptions& o, bool first_step,
              const double* scalars = nullptr);
// p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
template <typename T>
void adamw_step(Stream, const ParamSlice<T>* params, int count, const AdamWStepOptions& o,
                const double* scalars = nullptr);
// Writes o's per-step numbers (see sgd_step) into `scalars` (memory on this device), ordered on
// the stream before the work queued after it. The values travel by value (on a GPU as a
// one-thread launch's argument), so nothing on the host is read after this returns and the host
// never waits. Not inside a CUDA graph capture of the step: the capture would freeze the values,
// which is what writing them to memory avoids.
void sgd_write_scalars(Stream, const SgdStepOptions& o, double* scalars);
void adamw_write_scalars(Stream, const AdamWStepOptions& o, double* scalars);
// *norm = sqrt(sum over every span of x^2), accumulated in double in a fixed order.
template <typename T>
void total_norm(Stream, const Span<const T>* xs, int count, double* norm);
// x *= max_norm / (*norm + 1e-6) for every span when that factor is below 1; else nothing
// changes. The factor is computed where the norm lies, so a GPU never waits on the host.
template <typename T>
void clip_by_norm(Stream, const Span<T>* xs, int count, const double* norm, double max_norm);

// Explicitly instantiates the entry points above for the element type T: the one list
// kernels/cpu/optim.cpp and kernels/cuda/optim.cu share, each naming the types it has.
#define MINIDL_INSTANTIATE_OPTIM(T)                                                                                    \
  template void sgd_step<T>(Stream, const ParamSlice<T>*, int, const SgdStepOptions&, bool, const double*);            \
  template void adamw_step<T>(Stream, const ParamSlice<T>*, int, const AdamWStepOptions&, const double*);              \
  template void total_norm<T>(Stream, const Span<const T>*, int, double*);                                             \
  template void clip_by_norm<T>(Stream, const Span<T>*, int, const double*, double);
