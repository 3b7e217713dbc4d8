# Finds an NVIDIA library installed as a pip wheel (nvidia-cudnn-cu13, nvidia-nccl-cu13...), the
# only way cuDNN and NCCL exist on some GPU images: site-packages/nvidia/<name>/{include,lib}.
#
# As a module:  include(MinidlNvidiaWheel); minidl_find_nvidia_wheel(cudnn MY_ROOT)
#               sets MY_ROOT to the folder holding include/ and lib/, or to "" when none is found;
#               minidl_find_nvidia_library (below) looks on the system first, then in the wheel.
# As a script:  cmake -DNAME=cudnn -P cmake/MinidlNvidiaWheel.cmake
#               prints that folder and exits 0, or exits 1 (scripts/gpu-check.sh uses this, so the
#               preflight and the build look in the same places in the same order).
#
# Where it looks, first match wins: the interpreter named by MINIDL_PYTHON (environment), then
# every python3 on PATH, asked where the package `nvidia.<name>` is (importlib, no import of
# the library itself); then the usual site-packages folders (/opt/*/.venv, /usr/local/lib,
# /usr/lib, ~/.local) for interpreters that are not on PATH.

function(_minidl_wheel_root_ok dir name out)
  set(${out} FALSE PARENT_SCOPE)
  if(dir AND IS_DIRECTORY "${dir}/include" AND IS_DIRECTORY "${dir}/lib")
    file(GLOB _libs "${dir}/lib/lib${name}.so*")
    if(_libs)
      set(${out} TRUE PARENT_SCOPE)
    endif()
  endif()
endfunction()

function(minidl_find_nvidia_wheel name out)
  set(_pythons "")
  if(DEFINED ENV{MINIDL_PYTHON} AND NOT "$ENV{MINIDL_PYTHON}" STREQUAL "")
    list(APPEND _pythons "$ENV{MINIDL_PYTHON}")
  endif()
  string(REPLACE ":" ";" _path "$ENV{PATH}")
  foreach(d IN LISTS _path)
    if(d AND EXISTS "${d}/python3" AND NOT IS_DIRECTORY "${d}/python3")
      list(APPEND _pythons "${d}/python3")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES _pythons)
  # The candidates in order: what each interpreter says, then the usual folders.
  set(_candidates "")
  foreach(py IN LISTS _pythons)
    execute_process(
      COMMAND "${py}" -c "import importlib.util as u; s = u.find_spec('nvidia.${name}'); print(list(s.submodule_search_locations)[0] if s and s.submodule_search_locations else '')"
      OUTPUT_VARIABLE _dir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET TIMEOUT 20)
    list(APPEND _candidates "${_dir}")
  endforeach()
  file(GLOB _dirs
    /opt/*/.venv/lib/python3*/site-packages/nvidia/${name}
    /opt/*/lib/python3*/site-packages/nvidia/${name}
    /usr/local/lib/python3*/dist-packages/nvidia/${name}
    /usr/local/lib/python3*/site-packages/nvidia/${name}
    /usr/lib/python3/dist-packages/nvidia/${name}
    /usr/lib/python3*/site-packages/nvidia/${name}
    $ENV{HOME}/.local/lib/python3*/site-packages/nvidia/${name})
  foreach(d IN LISTS _candidates _dirs)
    _minidl_wheel_root_ok("${d}" ${name} _ok)
    if(_ok)
      set(${out} "${d}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${out} "" PARENT_SCOPE)
endfunction()

# Finds an NVIDIA library's header and library (cuDNN, NCCL): MINIDL_<NAME>_ROOT, then <NAME>_ROOT
# in the environment, the CUDA toolkit and the system first; then its pip wheel. Sets the cache
# entries MINIDL_<NAME>_INCLUDE and MINIDL_<NAME>_LIBRARY (NOTFOUND when absent) and
# MINIDL_<NAME>_FROM, where they were found. `soname` is the versioned library name: the wheels
# ship only that (libcudnn.so.9, libnccl.so.2), no unversioned link.
#   minidl_find_nvidia_library(cudnn cudnn.h libcudnn.so.9)
function(minidl_find_nvidia_library name header soname)
  string(TOUPPER ${name} _up)
  set(_hints ${MINIDL_${_up}_ROOT} $ENV{${_up}_ROOT} ${CUDAToolkit_LIBRARY_ROOT} /usr/local/cuda /usr)
  find_path(MINIDL_${_up}_INCLUDE ${header} HINTS ${_hints} PATH_SUFFIXES include)
  find_library(MINIDL_${_up}_LIBRARY NAMES ${name} ${soname} HINTS ${_hints}
    PATH_SUFFIXES lib64 lib lib/x86_64-linux-gnu)
  set(MINIDL_${_up}_FROM "toolkit or system" PARENT_SCOPE)
  if(NOT MINIDL_${_up}_INCLUDE OR NOT MINIDL_${_up}_LIBRARY)
    minidl_find_nvidia_wheel(${name} _wheel)
    if(_wheel)
      unset(MINIDL_${_up}_INCLUDE CACHE)
      unset(MINIDL_${_up}_LIBRARY CACHE)
      find_path(MINIDL_${_up}_INCLUDE ${header} PATHS ${_wheel}/include NO_DEFAULT_PATH)
      find_library(MINIDL_${_up}_LIBRARY NAMES ${name} ${soname} PATHS ${_wheel}/lib NO_DEFAULT_PATH)
      set(MINIDL_${_up}_FROM "pip wheel ${_wheel}" PARENT_SCOPE)
    endif()
  endif()
endfunction()

if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  if(NOT NAME)
    message(FATAL_ERROR "usage: cmake -DNAME=cudnn|nccl -P ${CMAKE_CURRENT_LIST_FILE}")
  endif()
  minidl_find_nvidia_wheel(${NAME} _root)
  if(_root)
    execute_process(COMMAND ${CMAKE_COMMAND} -E echo "${_root}")
  else()
    # Exit status 1 with nothing on stdout: "not found" for the caller.
    message(FATAL_ERROR "no nvidia.${NAME} wheel found")
  endif()
endif()
