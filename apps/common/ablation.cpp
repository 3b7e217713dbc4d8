#include "common/ablation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/html.h"
#include "common/svg.h"
#include "common/trainer.h"
#include "minidl/base/error.h"
#include "minidl/core/distributed.h"
#include "minidl/core/file_io.h"

namespace fs = std::filesystem;

namespace minidl::app {

namespace {

const char* kOffColor = "#d62728";
const char* kOnColor = "#1f77b4";

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

Series series(const std::vector<EpochMetrics>& h, double EpochMetrics::*field, const std::string& name, const char* color,
              bool dashed, double cap) {
  Series s{name, {}, {}, color, dashed};
  for (const auto& m : h) {
    s.x.push_back(static_cast<double>(m.epoch));
    s.y.push_back(std::min(m.*field, cap));  // an early spike would squash the rest of the chart
  }
  return s;
}

// Top: training and validation loss of both runs; bottom: validation accuracy. Each run's best
// epoch is ringed; the onset of overfitting is a dotted line across both.
std::string ablation_svg(const std::vector<EpochMetrics>& off, const std::vector<EpochMetrics>& on,
                         const CurveSummary& so, const CurveSummary& sn) {
  // The loss axis ends a little above the first epoch's training loss and both runs' final
  // validation losses: early spikes of the validation loss (batch-norm statistics at a high
  // learning rate) are drawn at the top edge rather than setting the scale.
  const double cap = 1.15 * std::max({off.front().train_loss, on.front().train_loss, so.final_val_loss,
                                      sn.final_val_loss, so.best_val_loss, sn.best_val_loss});
  LineChart loss{"Loss without and with augmentation", "epoch", "cross-entropy",
                 {series(off, &EpochMetrics::train_loss, "no aug: train", kOffColor, true, cap),
                  series(off, &EpochMetrics::val_loss, "no aug: validation", kOffColor, false, cap),
                  series(on, &EpochMetrics::train_loss, "aug: train", kOnColor, true, cap),
                  series(on, &EpochMetrics::val_loss, "aug: validation", kOnColor, false, cap)},
                 0, 0};
  loss.markers = {{static_cast<double>(so.best_loss_epoch), so.best_val_loss, "best " + fmt("%.3f", so.best_val_loss), kOffColor},
                  {static_cast<double>(sn.best_loss_epoch), sn.best_val_loss, "best " + fmt("%.3f", sn.best_val_loss), kOnColor}};
  LineChart acc{"Validation accuracy", "epoch", "accuracy",
                {series(off, &EpochMetrics::val_acc, "no aug", kOffColor, false, 1.0),
                 series(on, &EpochMetrics::val_acc, "aug", kOnColor, false, 1.0)},
                0, 0};
  acc.legend_bottom = true;
  acc.markers = {{static_cast<double>(so.best_acc_epoch), so.best_val_acc, "best " + fmt("%.3f", so.best_val_acc), kOffColor},
                 {static_cast<double>(sn.best_acc_epoch), sn.best_val_acc, "best " + fmt("%.3f", sn.best_val_acc), kOnColor}};
  if (so.overfits) {
    const ChartLine onset{static_cast<double>(so.overfit_onset),
                          "no aug overfits from epoch " + std::to_string(so.overfit_onset), kOffColor};
    loss.lines.push_back(onset);
    acc.lines.push_back(onset);
  }
  return svg_document(800, 820, {line_chart_fragment(loss, 0, 0, 800, 460), line_chart_fragment(acc, 0, 460, 800, 360)});
}

std::string ablation_markdown(const CurveSummary& so, const CurveSummary& sn) {
  std::string md =
      "| augmentation | best val loss (epoch) | best val accuracy (epoch) | final train loss | final val loss |\n"
      "|---|---|---|---|---|\n";
  char buf[256];
  for (auto [name, s] : {std::pair<const char*, const CurveSummary*>{"off", &so}, {"on", &sn}}) {
    std::snprintf(buf, sizeof buf, "| %s | %.4f (%lld) | %.4f (%lld) | %.4f | %.4f |\n", name, s->best_val_loss,
                  static_cast<long long>(s->best_loss_epoch), s->best_val_acc, static_cast<long long>(s->best_acc_epoch),
                  s->final_train_loss, s->final_val_loss);
    md += buf;
  }
  md += "\n";
  if (so.overfits)
    std::snprintf(buf, sizeof buf,
                  "Without augmentation the validation loss reached its minimum, %.4f, at epoch %lld and ended %.4f "
                  "above it (%+.0f%%) while the training loss kept falling (%.4f -> %.4f): the model overfits from "
                  "epoch %lld.\n",
                  so.best_val_loss, static_cast<long long>(so.best_loss_epoch), so.val_loss_rise,
                  100 * so.val_loss_rise / so.best_val_loss, so.train_loss_at_best, so.final_train_loss,
                  static_cast<long long>(so.overfit_onset));
  else
    std::snprintf(buf, sizeof buf,
                  "Without augmentation the validation loss ended %.4f above its minimum (%.4f, epoch %lld): no clear "
                  "overfitting in this run (the threshold is 10%% of the minimum, with the training loss still "
                  "falling).\n",
                  so.val_loss_rise, so.best_val_loss, static_cast<long long>(so.best_loss_epoch));
  md += buf;
  std::snprintf(buf, sizeof buf,
                "With augmentation: best validation loss %.4f against %.4f (%s), best validation accuracy %.4f "
                "against %.4f (%+.4f).\n",
                sn.best_val_loss, so.best_val_loss, sn.best_val_loss < so.best_val_loss ? "lower" : "not lower",
                sn.best_val_acc, so.best_val_acc, sn.best_val_acc - so.best_val_acc);
  md += buf;
  return md;
}

// One run's column in the side-by-side report.
std::string run_column(const std::string& title, const std::string& dir, const CurveSummary& s) {
  std::ostringstream h;
  h << "<div><h2>" << xml_escape(title) << "</h2>\n";
  h << "<p>Best validation loss " << fmt("%.4f", s.best_val_loss) << " (epoch " << s.best_loss_epoch
    << "), best validation accuracy " << fmt("%.4f", s.best_val_acc) << " (epoch " << s.best_acc_epoch << ").";
  const std::string summary = read_text_file(dir + "/summary.json");
  if (!summary.empty()) {
    const nlohmann::json j = nlohmann::json::parse(summary, nullptr, false);
    if (!j.is_discarded() && j.contains("accuracy") && j.contains("macro_f1"))
      h << " Its best checkpoint: accuracy " << pct(j["accuracy"].get<double>()) << ", macro-F1 "
        << pct(j["macro_f1"].get<double>()) << ".";
  }
  const std::string name = fs::path(dir).filename().string();
  h << " <a href=\"" << xml_escape(name) << "/report.html\">Its report</a>.</p>\n";
  h << read_text_file(dir + "/curves.svg") << "\n" << read_text_file(dir + "/confusion_matrix.svg") << "\n</div>\n";
  return h.str();
}

std::string ablation_html(const std::string& dir, const std::string& markdown, const CurveSummary& so,
                          const CurveSummary& sn) {
  std::ostringstream h;
  h << html_page_start("minidl ablation: without and with augmentation");
  h << "<h1>Augmentation ablation</h1>\n";
  // The verdict: ablation.md's sentences (after its table).
  const std::size_t text = markdown.find("\n\n");
  std::istringstream lines(text == std::string::npos ? std::string() : markdown.substr(text + 2));
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) h << "<p>" << xml_escape(line) << "</p>\n";
  h << "<table><tr><th>augmentation</th><th>best val loss (epoch)</th><th>best val accuracy (epoch)</th>"
       "<th>final train loss</th><th>final val loss</th></tr>\n";
  for (auto [name, s] : {std::pair<const char*, const CurveSummary*>{"off", &so}, {"on", &sn}})
    h << "<tr><td>" << name << "</td><td>" << fmt("%.4f", s->best_val_loss) << " (" << s->best_loss_epoch << ")</td><td>"
      << fmt("%.4f", s->best_val_acc) << " (" << s->best_acc_epoch << ")</td><td>" << fmt("%.4f", s->final_train_loss)
      << "</td><td>" << fmt("%.4f", s->final_val_loss) << "</td></tr>\n";
  h << "</table>\n";
  std::string figure = read_text_file(dir + "/ablation.svg");
  if (figure.rfind("<svg ", 0) == 0) figure.insert(5, "class=\"wide\" ");
  h << figure << "\n";
  h << "<div class=\"cols\">\n"
    << run_column("Without augmentation", dir + "/aug-off", so) << run_column("With augmentation", dir + "/aug-on", sn)
    << "</div>\n";
  const std::string png = read_text_file(dir + "/aug-on/augmentation.png");
  if (!png.empty())
    h << "<h2>What the augmentation does</h2>\n<p>The first training image (framed) and the augmentation's draws for it "
         "in the first epochs of the run with augmentation (values in <a href=\"aug-on/report.html\">its report</a>).</p>\n"
         "<img style=\"image-rendering:pixelated\" src=\""
      << png_data_uri(std::vector<std::uint8_t>(png.begin(), png.end())) << "\">\n";
  h << html_page_end();
  return h.str();
}

}  // namespace

CurveSummary summarize_curves(const std::vector<EpochMetrics>& h) {
  MINIDL_CHECK(!h.empty(), "ablation: a run without a finished epoch has no curves to summarise");
  CurveSummary s;
  const EpochMetrics* bl = &h.front();
  const EpochMetrics* ba = &h.front();
  for (const auto& m : h) {
    if (m.val_loss < bl->val_loss) bl = &m;
    if (m.val_acc > ba->val_acc) ba = &m;
  }
  s.best_loss_epoch = bl->epoch, s.best_val_loss = bl->val_loss, s.train_loss_at_best = bl->train_loss;
  s.best_acc_epoch = ba->epoch, s.best_val_acc = ba->val_acc;
  s.final_train_loss = h.back().train_loss, s.final_val_loss = h.back().val_loss;
  s.val_loss_rise = s.final_val_loss - s.best_val_loss;
  s.overfits = s.val_loss_rise >= std::max(0.02, 0.1 * s.best_val_loss) && s.final_train_loss < s.train_loss_at_best;
  s.overfit_onset = s.overfits ? s.best_loss_epoch : 0;
  return s;
}

std::string write_ablation(const std::string& dir, const std::vector<EpochMetrics>& off,
                           const std::vector<EpochMetrics>& on) {
  const CurveSummary so = summarize_curves(off), sn = summarize_curves(on);
  write_file_atomic(dir + "/ablation.svg", ablation_svg(off, on, so, sn));
  const std::string md = ablation_markdown(so, sn);
  write_file_atomic(dir + "/ablation.md", md);
  write_file_atomic(dir + "/report.html", ablation_html(dir, md, so, sn));
  return md;
}

AblationResult run_ablation(const TrainConfig& flags, const std::set<std::string>& given) {
  const bool resuming = !flags.resume.empty();
  const std::string root = resuming ? flags.resume : flags.out;
  TrainConfig parts[2] = {flags, flags};  // off, on
  // Under mpirun every rank trains both runs; rank 0 alone prints and writes the comparison.
  const bool main_rank = dist::launcher_world_size() == 0 || dist::world().is_main();
  const char* names[2] = {"aug-off", "aug-on"};
  if (resuming) {
    const std::string first = root + "/aug-off";
    MINIDL_CHECK(fs::exists(first + "/config.json"), "--ablation --resume ", root,
                 ": no aug-off/config.json there (is it an ablation folder?)");
    const TrainConfig base = read_run_config(first);
    for (int i = 0; i < 2; ++i) {
      const std::string dir = root + "/" + names[i];
      TrainConfig& p = parts[i];
      if (RunFolder(dir).has_train_state()) {
        p.resume = dir;  // resolve_config takes the rest from the run's own config.json
      } else {
        // Not started (or killed before its first epoch): start it with the ablation's settings.
        p = base;
        p.resume.clear();
        if (given.count("--epochs")) p.epochs = std::max(p.epochs, flags.epochs);
        p.quiet = flags.quiet;
        p.stop_after = flags.stop_after;
      }
    }
  } else if (main_rank) {
    fs::create_directories(root);
  }
  AblationResult result;
  std::vector<EpochMetrics> histories[2];
  for (int i = 0; i < 2; ++i) {
    TrainConfig& p = parts[i];
    p.aug = i == 1;
    p.out = root + "/" + names[i];
    if (!p.quiet && main_rank) std::printf("%s== augmentation %s ==\n", i ? "\n" : "", i ? "on" : "off");
    const TrainResult r = train(p, p.resume.empty() ? std::set<std::string>{} : given);
    if (r.diverged || r.stopped_early) {
      result.diverged = r.diverged, result.stopped_early = r.stopped_early;
      if (r.stopped_early && !p.quiet && main_rank) std::printf("continue the ablation with --ablation --resume %s\n", root.c_str());
      return result;
    }
    histories[i] = r.history;
  }
  if (!main_rank) return result;
  result.markdown = write_ablation(root, histories[0], histories[1]);
  if (!flags.quiet)
    std::printf("\nablation (%s/ablation.svg, %s/report.html):\n%s", root.c_str(), root.c_str(), result.markdown.c_str());
  return result;
}

}  // namespace minidl::app
