# Compiler caching: when ccache is installed, every C, C++ and CUDA compile goes through it
# (-DMINIDL_CCACHE=OFF turns it off; a launcher given on the command line wins). CI rebuilds the
# same sources from a fresh clone on every run, in five build folders (the suite, the emulator,
# the sanitizers, the fuzzers, the GPU dry run); with a cache the second run of unchanged code
# compiles nothing. base_dir makes the cache key use paths relative to the source tree, so two
# clones in different folders share their hits.
option(MINIDL_CCACHE "Compile through ccache when it is installed" ON)
if(MINIDL_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  find_program(MINIDL_CCACHE_PROGRAM ccache)
  if(MINIDL_CCACHE_PROGRAM)
    set(_minidl_launcher ${CMAKE_COMMAND} -E env CCACHE_BASEDIR=${CMAKE_SOURCE_DIR} ${MINIDL_CCACHE_PROGRAM})
    set(CMAKE_C_COMPILER_LAUNCHER ${_minidl_launcher})
    set(CMAKE_CXX_COMPILER_LAUNCHER ${_minidl_launcher})
    set(CMAKE_CUDA_COMPILER_LAUNCHER ${_minidl_launcher})
  endif()
endif()
