// libFuzzer target: the safetensors reader (see fuzz_inputs.h for what the input means).
#include "fuzz_inputs.h"

MINIDL_FUZZ_TARGET(safetensors)
