// The Catch2 runner of minidl_tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
