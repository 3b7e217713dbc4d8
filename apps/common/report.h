// What a person looks at after a run or an evaluation: the confusion matrix files and
// report.html, one self-contained page (SVG and images inline).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/evaluation.h"
#include "common/run_folder.h"
#include "minidl/data/dataset.h"

namespace minidl::app {

// <dir>/confusion_counts.csv, confusion_normalized.csv, confusion_matrix.svg, per_class.csv,
// predictions.csv (index in the data set, label, predicted, confidence) and
// summary.json (accuracy, macro-F1, loss, per class, most-confused pairs); `what` names the
// data ("validation") in titles.
void write_evaluation_files(const std::string& dir, const EvalResult& result, const std::string& what);

// The run report: config, curves, confusion matrix, per-class table, and a grid of
// misclassified images with their true and predicted labels.
void write_report(const std::string& path, const nlohmann::json& config, const std::vector<EpochMetrics>& history,
                  const EvalResult& eval, const data::Dataset& dataset, const std::string& curves_svg_path);

// Per-class table and most-confused pairs as printed text.
std::string evaluation_text(const EvalResult& result);

}  // namespace minidl::app
