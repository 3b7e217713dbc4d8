// The entry points of kernels/optim.h, the same on both devices: optim.h includes this file
// twice, inside namespace cpu and inside namespace cuda, so that each is declared once.
// No #pragma once, on purpose; include optim.h, never this file.

// g = grad + wd*p; if momentum: buf = first_step ? g : momentum*buf + (1-dampening)*g,
// g = nesterov ? g + momentum*buf : buf; p -= lr*g.
template <typename T>
void sgd_step(Stream, const ParamSlice<T>* params, int count, const SgdStepOptions& o, bool first_step);
// p *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
template <typename T>
void adamw_step(Stream, const ParamSlice<T>* params, int count, const AdamWStepOptions& o);
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
  template void sgd_step<T>(Stream, const ParamSlice<T>*, int, const SgdStepOptions&, bool);                           \
  template void adamw_step<T>(Stream, const ParamSlice<T>*, int, const AdamWStepOptions&);                             \
  template void total_norm<T>(Stream, const Span<const T>*, int, double*);                                             \
  template void clip_by_norm<T>(Stream, const Span<T>*, int, const double*, double);
