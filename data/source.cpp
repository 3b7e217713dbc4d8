#include "minidl/data/source.h"

#include <filesystem>
#include <memory>
#include <sstream>

#include "minidl/data/data_error.h"
#include "minidl/data/fer2013_csv.h"
#include "minidl/data/idx.h"
#include "minidl/data/image_folder.h"
#include "minidl/data/split.h"
#include "minidl/data/synthetic_faces.h"

namespace fs = std::filesystem;

namespace minidl::data {

DataSourceOptions DataSourceOptions::parse(const std::string& spec) {
  DataSourceOptions o;
  const auto colon = spec.find(':');
  o.kind = spec.substr(0, colon);
  o.path = colon == std::string::npos ? "" : spec.substr(colon + 1);
  const bool known = o.kind == "synthetic" || o.kind == "fer2013" || o.kind == "folder" || o.kind == "fashion-mnist";
  if (!known) {
    // A bare path: the kind follows from what it is.
    std::error_code ec;
    o.path = spec;
    if (fs::is_directory(spec, ec)) {
      o.kind = "folder";
    } else if (spec.size() > 4 && spec.compare(spec.size() - 4, 4, ".csv") == 0) {
      o.kind = "fer2013";
    } else {
      MINIDL_FAIL("data source '", spec,
                  "': expected synthetic, fer2013:FILE.csv, folder:DIR, fashion-mnist[:DIR], a FER2013 .csv file or "
                  "an image folder",
                  fs::exists(spec, ec) ? "" : " (no such file or folder)");
    }
    return o;
  }
  MINIDL_CHECK(o.kind == "synthetic" || o.kind == "fashion-mnist" || !o.path.empty(), "data source '", spec,
               "': ", o.kind, " needs a path (", o.kind, ":PATH)");
  MINIDL_CHECK(o.kind != "synthetic" || o.path.empty(), "data source '", spec, "': synthetic takes no path");
  return o;
}

std::string DataSourceOptions::str() const { return path.empty() ? kind : kind + ":" + path; }

namespace {

DataSplits split_train(DatasetPtr full, const DataSourceOptions& o, DatasetPtr test, const std::string& what) {
  const SplitIndices s = stratified_split(*full, o.val_fraction, o.seed);
  DataSplits d;
  d.train = std::make_shared<Subset>(full, s.train, "train split");
  d.val = std::make_shared<Subset>(full, s.val, "validation split");
  d.test = std::move(test);
  std::ostringstream os;
  os << what << ": stratified split (seed " << o.seed << ", " << o.val_fraction * 100 << "% validation)";
  d.note = os.str();
  return d;
}

}  // namespace

DataSplits open_data(const DataSourceOptions& o) {
  MINIDL_CHECK(o.val_fraction > 0.0 && o.val_fraction < 1.0, "validation fraction ", o.val_fraction,
               " must be in (0, 1)");
  MINIDL_CHECK(o.height >= 0 && o.width >= 0 && (o.height == 0) == (o.width == 0), "image size ", o.height, "x",
               o.width, ": give both or neither");
  if (o.kind == "synthetic") {
    SyntheticFacesOptions so;
    so.seed = o.seed;
    so.size = o.synthetic_size;
    so.height = o.height ? o.height : 64;
    so.width = o.width ? o.width : 64;
    auto full = std::make_shared<SyntheticFaces>(so);
    so.first_index = o.synthetic_size;
    so.size = o.synthetic_test;
    DatasetPtr test = o.synthetic_test > 0 ? std::make_shared<SyntheticFaces>(so) : nullptr;
    return split_train(full, o, test, "synthetic faces");
  }
  if (o.kind == "fer2013") {
    Fer2013Options fo;
    fo.height = o.height ? o.height : 48;
    fo.width = o.width ? o.width : 48;
    fo.skip_bad_rows = o.skip_bad;
    auto csv = std::make_shared<Fer2013Csv>(o.path, fo);
    if (!csv->has_usage()) return split_train(csv, o, nullptr, "FER2013 CSV without a Usage column");
    auto part = [&](Fer2013Csv::Usage u) { return csv->indices_with_usage(u); };
    const auto train = part(Fer2013Csv::Usage::Training), val = part(Fer2013Csv::Usage::PublicTest),
               test = part(Fer2013Csv::Usage::PrivateTest);
    if (train.empty()) throw_data_error(o.path, ": no rows with Usage Training");
    DataSplits d;
    auto train_set = std::make_shared<Subset>(csv, train, "Training");
    DatasetPtr test_set = test.empty() ? nullptr : std::make_shared<Subset>(csv, test, "PrivateTest");
    if (val.empty()) {
      d = split_train(train_set, o, test_set, "FER2013 CSV without PublicTest rows");
    } else {
      d.train = train_set;
      d.val = std::make_shared<Subset>(csv, val, "PublicTest");
      d.test = test_set;
      d.note = "FER2013 Usage column: Training / PublicTest (validation) / PrivateTest (test)";
    }
    if (csv->skipped_rows()) d.note += "; " + std::to_string(csv->skipped_rows()) + " bad rows skipped";
    return d;
  }
  if (o.kind == "folder") {
    ImageFolderOptions fo;
    fo.height = o.height ? o.height : 64;
    fo.width = o.width ? o.width : 64;
    fo.skip_bad_files = o.skip_bad;
    const fs::path root(o.path);
    auto sub = [&](const char* name) -> DatasetPtr {
      const fs::path p = root / name;
      std::error_code ec;
      if (!fs::is_directory(p, ec) || !ImageFolder::has_class_folders(p.string())) return nullptr;
      return std::make_shared<ImageFolder>(p.string(), fo);
    };
    DatasetPtr train = sub("train");
    if (!train) return split_train(std::make_shared<ImageFolder>(o.path, fo), o, nullptr, "image folder");
    DatasetPtr val = sub("val");
    if (!val) val = sub("validation");
    DatasetPtr test = sub("test");
    for (const DatasetPtr& part : {val, test})
      if (part && part->class_names() != train->class_names())
        throw_data_error(o.path, ": the classes of ", part->description(), " differ from those of train/");
    if (!val) return split_train(train, o, test, "image folder train/ (no val/)");
    DataSplits d{train, val, test, "image folder train/ val/" + std::string(test ? " test/" : "")};
    return d;
  }
  if (o.kind == "fashion-mnist") {
    const std::string dir = o.path.empty() ? kFashionMnistDir : o.path;
    auto train = fashion_mnist(true, dir, o.height, o.width);
    auto test = fashion_mnist(false, dir, o.height, o.width);
    return split_train(train, o, test, "Fashion-MNIST train (test: t10k)");
  }
  MINIDL_FAIL("data source '", o.kind, "': expected synthetic, fer2013, folder or fashion-mnist");
}

}  // namespace minidl::data
