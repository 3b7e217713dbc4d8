# Finds an NVIDIA library installed as a pip wheel (nvidia-cudnn-cu13, nvidia-nccl-cu13...), the
# only way cuDNN and NCCL exist on some GPU images: site-packages/nvidia/<name>/{include,lib}.
#
# As a module:  include(MinidlNvidiaWheel); minidl_find_nvidia_wheel(cudnn MY_ROOT)
#               sets MY_ROOT to the folder holding include/ and lib/, or to "" when none is found.
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
  foreach(py IN LISTS _pythons)
    execute_process(
      COMMAND "${py}" -c "import importlib.util as u; s = u.find_spec('nvidia.${name}'); print(list(s.submodule_search_locations)[0] if s and s.submodule_search_locations else '')"
      OUTPUT_VARIABLE _dir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET TIMEOUT 20)
    _minidl_wheel_root_ok("${_dir}" ${name} _ok)
    if(_ok)
      set(${out} "${_dir}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  file(GLOB _dirs
    /opt/*/.venv/lib/python3*/site-packages/nvidia/${name}
    /opt/*/lib/python3*/site-packages/nvidia/${name}
    /usr/local/lib/python3*/dist-packages/nvidia/${name}
    /usr/local/lib/python3*/site-packages/nvidia/${name}
    /usr/lib/python3/dist-packages/nvidia/${name}
    /usr/lib/python3*/site-packages/nvidia/${name}
    $ENV{HOME}/.local/lib/python3*/site-packages/nvidia/${name})
  foreach(d IN LISTS _dirs)
    _minidl_wheel_root_ok("${d}" ${name} _ok)
    if(_ok)
      set(${out} "${d}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${out} "" PARENT_SCOPE)
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
