#include "minidl/layers/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "minidl/base/error.h"

namespace minidl {

namespace {
// Cosine interpolation from `from` (t = 0) to `to` (t = 1).
double cosine(double from, double to, double t) {
  t = std::clamp(t, 0.0, 1.0);
  return to + (from - to) * 0.5 * (1.0 + std::cos(M_PI * t));
}
}  // namespace

double LrSchedule::lr_at(std::int64_t step) const {
  const double s = static_cast<double>(step);
  const double total = static_cast<double>(std::max<std::int64_t>(total_steps, 1));
  switch (kind) {
    case Kind::Constant: return base_lr;
    case Kind::Step: return base_lr * std::pow(gamma, static_cast<double>(step / std::max<std::int64_t>(step_size, 1)));
    case Kind::Cosine: return cosine(base_lr, min_lr, s / total);
    case Kind::WarmupCosine: {
      if (step < warmup_steps) return base_lr * (s + 1) / static_cast<double>(warmup_steps);
      const double rest = std::max(total - static_cast<double>(warmup_steps), 1.0);
      return cosine(base_lr, min_lr, (s - static_cast<double>(warmup_steps)) / rest);
    }
    case Kind::OneCycle: {
      // torch's OneCycleLR phases end at pct_start*total - 1 and total - 1.
      const double initial = base_lr / div_factor, final_lr = initial / final_div_factor;
      const double up_end = pct_start * total - 1;
      if (s <= up_end) return cosine(initial, base_lr, up_end > 0 ? s / up_end : 1.0);
      return cosine(base_lr, final_lr, (s - up_end) / std::max(total - 1 - up_end, 1.0));
    }
  }
  return base_lr;
}

LrSchedule::Kind LrSchedule::parse(const std::string& n) {
  for (Kind k : {Kind::Constant, Kind::Step, Kind::Cosine, Kind::WarmupCosine, Kind::OneCycle})
    if (n == name(k)) return k;
  MINIDL_FAIL("unknown learning-rate schedule '", n, "': expected constant, step, cosine, warmup-cosine or onecycle");
}

const char* LrSchedule::name(Kind k) {
  switch (k) {
    case Kind::Constant: return "constant";
    case Kind::Step: return "step";
    case Kind::Cosine: return "cosine";
    case Kind::WarmupCosine: return "warmup-cosine";
    case Kind::OneCycle: return "onecycle";
  }
  return "?";
}

}  // namespace minidl
