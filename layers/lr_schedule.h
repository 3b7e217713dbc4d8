// Learning-rate schedules as pure functions of the step (0-based, stepped once per batch), so
// that a resumed run recomputes the same rate from the step count alone.
#pragma once

#include <cstdint>
#include <string>

namespace minidl {

struct LrSchedule {
  enum class Kind { Constant, Step, Cosine, WarmupCosine, OneCycle };
  Kind kind = Kind::Constant;
  double base_lr = 0.1;
  std::int64_t total_steps = 1;   // Cosine, WarmupCosine, OneCycle
  std::int64_t step_size = 1;     // Step: decay every step_size steps
  double gamma = 0.1;             // Step: factor
  std::int64_t warmup_steps = 0;  // WarmupCosine: linear from 0 to base_lr
  double min_lr = 0.0;            // Cosine, WarmupCosine: eta_min
  double pct_start = 0.3;         // OneCycle: fraction of steps rising
  double div_factor = 25.0;       // OneCycle: initial lr = base_lr / div_factor (base_lr is max_lr)
  double final_div_factor = 1e4;  // OneCycle: final lr = initial / final_div_factor

  // The rate for a step: StepLR, CosineAnnealingLR (one half period over total_steps), linear
  // warm-up then cosine, and OneCycleLR with cosine annealing, as in torch.optim.lr_scheduler.
  double lr_at(std::int64_t step) const;

  // "constant", "step", "cosine", "warmup-cosine", "onecycle"; throws minidl::Error otherwise.
  static Kind parse(const std::string& name);
  static const char* name(Kind k);
};

}  // namespace minidl
