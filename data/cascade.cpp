// Reading OpenCV's cascade XML (the "opencv-cascade-classifier" format that
// opencv_traincascade writes and Debian's opencv-data ships), checked so that evaluation can
// never index out of its arrays or loop: every feature rectangle lies inside the window, every
// node's feature exists, every tree's children come after their parent and every leaf exists.
#include "minidl/data/cascade.h"

#include <cmath>
#include <limits>

#include "minidl/data/data_error.h"
#include "minidl/data/xml.h"

namespace minidl::data {

namespace {

constexpr std::int64_t kMaxWindow = 1024;  // no cascade's training window comes near this
constexpr std::int64_t kInt32Max = std::numeric_limits<std::int32_t>::max();
constexpr std::int64_t kInt32Min = std::numeric_limits<std::int32_t>::min();

std::int32_t to_i32(double v, const XmlElement& e, const std::string& where, std::int64_t lo, std::int64_t hi) {
  if (v != std::floor(v) || v < static_cast<double>(lo) || v > static_cast<double>(hi))
    throw_data_error(where, ":", e.line, ": <", e.name, "> holds ", v, ", expected an integer from ", lo, " to ", hi);
  return static_cast<std::int32_t>(v);
}

std::string text_of(const XmlElement& e) {
  std::string t = e.text;
  const auto a = t.find_first_not_of(" \t\r\n"), b = t.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? std::string() : t.substr(a, b - a + 1);
}

}  // namespace

Cascade Cascade::load(const std::string& path) { return from_xml(load_xml(path), path); }

Cascade Cascade::parse(const std::string& xml_text, const std::string& name) {
  return from_xml(parse_xml(xml_text, name), name);
}

Cascade Cascade::from_xml(const XmlElement& doc, const std::string& where) {
  if (doc.name != "opencv_storage")
    throw_data_error(where, ":", doc.line, ": root element <", doc.name, ">, expected <opencv_storage> (an OpenCV cascade file)");
  if (doc.children.empty()) throw_data_error(where, ":", doc.line, ": <opencv_storage> is empty, expected a cascade");
  const XmlElement& root = doc.children.front();
  if (const std::string* t = root.attribute("type_id"); t && *t == "opencv-haar-classifier")
    throw_data_error(where, ":", root.line, ": a cascade in OpenCV's old (pre-2.0) format, which minidl does not read; "
                     "use one in the current format (the frontal-face cascades in /usr/share/opencv4 are)");
  if (!root.child("stageType"))
    throw_data_error(where, ":", root.line, ": <", root.name, "> is not a cascade (no <stageType>)");

  Cascade c;
  const std::string stage_type = text_of(root.require("stageType", where));
  if (stage_type != "BOOST")
    throw_data_error(where, ":", root.require("stageType", where).line, ": stage type '", stage_type, "', expected BOOST");
  const XmlElement& ft = root.require("featureType", where);
  const std::string feature_type = text_of(ft);
  if (feature_type == "HAAR")
    c.type_ = FeatureType::Haar;
  else if (feature_type == "LBP")
    c.type_ = FeatureType::Lbp;
  else
    throw_data_error(where, ":", ft.line, ": feature type '", feature_type, "', expected HAAR or LBP");
  c.win_w_ = xml_int(root.require("width", where), where, 3, kMaxWindow);
  c.win_h_ = xml_int(root.require("height", where), where, 3, kMaxWindow);

  const XmlElement& fp = root.require("featureParams", where);
  const std::int64_t ncat = xml_int(fp.require("maxCatCount", where), where, 0, 256);
  if (c.type_ == FeatureType::Haar && ncat != 0)
    throw_data_error(where, ":", fp.line, ": HAAR features are ordered, but maxCatCount is ", ncat, " (expected 0)");
  if (c.type_ == FeatureType::Lbp && ncat != 256)
    throw_data_error(where, ":", fp.line, ": LBP features have 256 categories, but maxCatCount is ", ncat);
  const std::int64_t subset_words = (ncat + 31) / 32;
  const std::size_t node_step = static_cast<std::size_t>(3 + (ncat > 0 ? subset_words : 1));

  // Stages, trees, nodes and leaves.
  const XmlElement& stages = root.require("stages", where);
  if (stages.children.empty()) throw_data_error(where, ":", stages.line, ": <stages> is empty");
  for (const XmlElement& s : stages.children) {
    Stage stage{};
    const XmlElement& th = s.require("stageThreshold", where);
    const auto tv = xml_numbers(th, where);
    if (tv.size() != 1) throw_data_error(where, ":", th.line, ": <stageThreshold> must hold one number");
    // OpenCV lowers every stage threshold by 1e-5 (in float) when it reads one.
    stage.threshold = static_cast<float>(tv[0]) - 1e-5f;
    const XmlElement& weak = s.require("weakClassifiers", where);
    if (weak.children.empty()) throw_data_error(where, ":", weak.line, ": a stage with no weak classifiers");
    stage.first_tree = static_cast<std::int32_t>(c.trees_.size());
    stage.num_trees = static_cast<std::int32_t>(weak.children.size());
    for (const XmlElement& w : weak.children) {
      const XmlElement& in = w.require("internalNodes", where);
      const XmlElement& lv = w.require("leafValues", where);
      const auto nodes = xml_numbers(in, where);
      const auto leaves = xml_numbers(lv, where);
      if (nodes.empty() || nodes.size() % node_step != 0)
        throw_data_error(where, ":", in.line, ": <internalNodes> holds ", nodes.size(), " numbers, expected a multiple of ",
                         node_step, " (left, right, feature, ", ncat > 0 ? "8 category words" : "threshold", " per node)");
      const std::int64_t count = static_cast<std::int64_t>(nodes.size() / node_step);
      if (static_cast<std::int64_t>(leaves.size()) != count + 1)
        throw_data_error(where, ":", lv.line, ": a tree of ", count, " nodes needs ", count + 1, " leaf values, found ",
                         leaves.size());
      Tree tree{static_cast<std::int32_t>(c.nodes_.size()), static_cast<std::int32_t>(c.leaves_.size())};
      for (std::int64_t k = 0; k < count; ++k) {
        const double* n = &nodes[static_cast<std::size_t>(k) * node_step];
        Node node{};
        // A child > 0 is a node of this tree after this one (so evaluation always ends), a child
        // <= 0 is leaf number -child.
        node.left = to_i32(n[0], in, where, -count, count - 1);
        node.right = to_i32(n[1], in, where, -count, count - 1);
        if ((node.left > 0 && node.left <= k) || (node.right > 0 && node.right <= k))
          throw_data_error(where, ":", in.line, ": node ", k, " of a tree points back to an earlier node");
        node.feature = to_i32(n[2], in, where, 0, kInt32Max);
        if (ncat > 0) {
          node.threshold = 0.f;
          node.subset = static_cast<std::int32_t>(c.subsets_.size());
          for (std::int64_t j = 0; j < subset_words; ++j)
            c.subsets_.push_back(to_i32(n[3 + j], in, where, kInt32Min, kInt32Max));
        } else {
          node.threshold = static_cast<float>(n[3]);
          node.subset = -1;
        }
        c.nodes_.push_back(node);
      }
      for (double v : leaves) c.leaves_.push_back(static_cast<float>(v));
      c.trees_.push_back(tree);
    }
    c.stages_.push_back(stage);
  }

  // Features.
  const XmlElement& features = root.require("features", where);
  for (const XmlElement& f : features.children) {
    Feature feat{};
    if (c.type_ == FeatureType::Haar) {
      if (const XmlElement* t = f.child("tilted"); t && xml_int(*t, where, 0, 1) != 0)
        throw_data_error(where, ":", t->line, ": tilted (45 degree) Haar features are not supported; the frontal-face "
                         "cascades do not use them");
      const XmlElement& rects = f.require("rects", where);
      if (rects.children.empty() || rects.children.size() > 3)
        throw_data_error(where, ":", rects.line, ": a Haar feature has ", rects.children.size(),
                         " rectangles, expected 1 to 3");
      for (std::size_t i = 0; i < rects.children.size(); ++i) {
        const XmlElement& r = rects.children[i];
        const auto v = xml_numbers(r, where);
        if (v.size() != 5) throw_data_error(where, ":", r.line, ": a Haar rectangle is 'x y width height weight', found ",
                                            v.size(), " numbers");
        HaarRect hr{to_i32(v[0], r, where, 0, c.win_w_ - 1), to_i32(v[1], r, where, 0, c.win_h_ - 1),
                    to_i32(v[2], r, where, 1, c.win_w_), to_i32(v[3], r, where, 1, c.win_h_), static_cast<float>(v[4])};
        if (hr.x + hr.w > c.win_w_ || hr.y + hr.h > c.win_h_)
          throw_data_error(where, ":", r.line, ": rectangle ", hr.x, " ", hr.y, " ", hr.w, " ", hr.h,
                           " reaches outside the ", c.win_w_, "x", c.win_h_, " window");
        feat.rects[i] = hr;
      }
    } else {
      const XmlElement& r = f.require("rect", where);
      const auto v = xml_numbers(r, where);
      if (v.size() != 4) throw_data_error(where, ":", r.line, ": an LBP feature is 'x y width height', found ", v.size(),
                                          " numbers");
      for (int i = 0; i < 4; ++i) feat.lbp[i] = to_i32(v[static_cast<std::size_t>(i)], r, where, i < 2 ? 0 : 1, kMaxWindow);
      if (feat.lbp[0] + 3 * feat.lbp[2] > c.win_w_ || feat.lbp[1] + 3 * feat.lbp[3] > c.win_h_)
        throw_data_error(where, ":", r.line, ": the 3x3 blocks of LBP feature ", feat.lbp[0], " ", feat.lbp[1], " ",
                         feat.lbp[2], " ", feat.lbp[3], " reach outside the ", c.win_w_, "x", c.win_h_, " window");
    }
    c.features_.push_back(feat);
  }
  for (const Node& n : c.nodes_)
    if (n.feature >= static_cast<std::int32_t>(c.features_.size()))
      throw_data_error(where, ":", features.line, ": a tree uses feature ", n.feature, " but the cascade has only ",
                       c.features_.size(), " features");
  return c;
}

}  // namespace minidl::data
