// Opening a data source by name, with its train / validation / test parts, the way the apps
// want it: the data's own split where it has one (FER2013's Usage column, train/ val/ test/
// folders, Fashion-MNIST's t10k files), else a stratified seeded split of the training part.
//
//   synthetic                 the built-in procedural faces (the default)
//   fer2013:PATH              a FER2013 CSV file
//   folder:PATH               an image folder (PATH/<class>/..., or PATH/{train,val,test}/<class>/...)
//   fashion-mnist[:DIR]       the IDX files of Fashion-MNIST (default /usr/share/datasets/fashion-mnist)
//   PATH                      a folder is an image folder, a .csv file a FER2013 CSV
#pragma once

#include <cstdint>
#include <string>

#include "minidl/data/dataset.h"

namespace minidl::data {

struct DataSourceOptions {
  std::string kind = "synthetic";  // synthetic | fer2013 | folder | fashion-mnist
  std::string path;                // the CSV file, the folder, or the IDX folder
  std::int64_t height = 0;         // 0: the source's own size (synthetic and folders 64, FER 48, IDX 28)
  std::int64_t width = 0;
  std::uint64_t seed = 1;          // the synthetic faces and the validation split
  std::int64_t synthetic_size = 20000;  // synthetic train + validation images
  std::int64_t synthetic_test = 3000;   // synthetic test images (further faces of the same seed)
  double val_fraction = 0.1;       // where a split must be made
  bool skip_bad = false;           // skip bad CSV rows / image files, and count them

  // "fer2013:/data/fer2013.csv" (or "/data/fer2013.csv") -> kind and path. Throws minidl::Error
  // naming the valid kinds.
  static DataSourceOptions parse(const std::string& spec);
  std::string str() const;
};

struct DataSplits {
  DatasetPtr train, val, test;  // test may be null: the source has no test part
  std::string note;             // how the split was made, for the log
};

// Throws DataError (bad files) or minidl::Error (bad options).
DataSplits open_data(const DataSourceOptions& options);

}  // namespace minidl::data
