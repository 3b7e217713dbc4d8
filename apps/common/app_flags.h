// Flags every app shares: which data (--data) and which device (--device).
#pragma once

#include <string>

#include "minidl/core/device.h"
#include "minidl/data/source.h"

namespace minidl::app {

// --data: "synthetic", "data.csv", "faces/", "fashion-mnist" or "kind:path" -> a data source
// (data::DataSourceOptions::parse), with errors naming where the value came from: the flag, or
// the run's config.json when evaluate takes the data from there.
data::DataSourceOptions data_source_from_flag(const std::string& value, const std::string& origin = "--data");
// auto -> cuda when a GPU is usable, else cpu (saying so).
Device resolve_device(const std::string& flag, bool quiet = false);

}  // namespace minidl::app
