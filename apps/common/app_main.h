// What every app does around its work, so that no failure goes unreported.
#pragma once

namespace minidl::app {

// First thing in main: a write past the file size limit (ulimit -f) then fails with EFBIG and is
// reported with the file's name, instead of SIGXFSZ killing the process without a word.
void app_start();

// Last thing in main: flushes stdout; when it could not be written (a full disk behind a
// redirect), says so on stderr and returns 1, else returns code.
int app_exit(int code);

}  // namespace minidl::app
