// libFuzzer target: the fer2013_csv reader (see fuzz_inputs.h for what the input means).
#include "fuzz_inputs.h"

MINIDL_FUZZ_TARGET(fer2013_csv)
