// The version of the minidl library a program runs with (which may differ from the headers it
// was compiled against, MINIDL_VERSION in config.h, when linked as a shared library).
#pragma once

namespace minidl {

const char* version();
// "minidl 0.1.0 (CPU, OpenBLAS)" or "... (CUDA, cuDNN)": what this build has.
const char* build_info();

}  // namespace minidl
