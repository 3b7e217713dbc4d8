// error.h moved to base/ (the layer below kernels, so that kernels can use it without pointing up
// at core). Kept so that code including it from core still builds.
#pragma once

#include "minidl/base/error.h"
