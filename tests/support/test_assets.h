// What the tests of face detection and ONNX export need from outside the repository, and where
// scripts/install-deps.sh --test (scripts/fetch-test-assets.sh) puts it:
//   photos       real photos unpacked from Debian packages: $MINIDL_TEST_ASSETS/photos
//   opencv       Debian's python3-opencv, seen by /usr/bin/python3
//   onnx         Debian's python3-onnx, and onnxruntime (from PyPI) in the venv
//                $MINIDL_TEST_ASSETS/venv where the machine could reach PyPI
// MINIDL_TEST_ASSETS defaults to /opt/minidl-test.
#pragma once

#include <string>

namespace minidl::test_assets {

std::string root();
// The folder holding the photos, or "" when they are not all there.
std::string photos_dir();
std::string photos_hint();
// An interpreter that imports cv2 (and numpy), or "".
const std::string& opencv_python();
// The interpreter to check ONNX files with: the venv's when it exists (it sees Debian's modules
// too), else /usr/bin/python3; "" when neither imports onnx.
const std::string& onnx_python();
// tests/<name>, for the helper scripts.
std::string script(const std::string& name);
// Records a skip of the running test for a missing need, and returns false.
bool skip(const std::string& need, const std::string& reason);

}  // namespace minidl::test_assets
