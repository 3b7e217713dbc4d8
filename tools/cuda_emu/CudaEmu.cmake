# The CUDA emulator build (MINIDL_CUDA_EMU=ON): the product's own CUDA backend, from the product's
# own file lists and generated config.h (CUDA on; cuDNN on unless MINIDL_CUDNN=OFF), compiled for the CPU emulator in
# this folder instead of nvcc. A development tool for machines without a GPU (docs/cuda.md), not
# a way to ship minidl.
#
# Included by cmake/MinidlCuda.cmake. Provides:
#   target cuda_emu                     the emulated runtime, cuBLAS, cuDNN and kernel execution
#   cuda_emu_translate(<sources var> [HEADERS])
#                                       replaces each .cu in the list by its translation; with
#                                       HEADERS also adds the translated kernels/**/*.cuh
#   cuda_emu_configure_target(<target>) what minidl_configure_cuda_target does for nvcc builds
find_package(Python3 REQUIRED COMPONENTS Interpreter)

set(CUDA_EMU_DIR ${CMAKE_CURRENT_LIST_DIR})
set(CUDA_EMU_GEN ${CMAKE_BINARY_DIR}/cuda_emu)
# Kernel files only: every load and store calls the emulator's checker (src/memory.cpp), and
# multiply-adds are contracted as nvcc does by default (--fmad=true).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  set(CUDA_EMU_KERNEL_FLAGS -fsanitize=kernel-address --param=asan-instrumentation-with-call-threshold=0
      --param=asan-stack=0 --param=asan-globals=0 --param=asan-use-after-return=0 -ffp-contract=fast
      -Wno-unknown-pragmas -Wno-subobject-linkage)  # #line makes gcc take the kernel file for a header
elseif(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  set(CUDA_EMU_KERNEL_FLAGS -fsanitize=kernel-address -mllvm -asan-instrumentation-with-call-threshold=0
      -mllvm -asan-stack=0 -mllvm -asan-globals=0 -ffp-contract=fast -Wno-unknown-pragmas)
else()
  message(FATAL_ERROR "MINIDL_CUDA_EMU needs gcc or clang (kernel-address instrumentation)")
endif()

file(GLOB CUDA_EMU_SOURCES CONFIGURE_DEPENDS ${CUDA_EMU_DIR}/src/*.cpp)
add_library(cuda_emu STATIC ${CUDA_EMU_SOURCES})
target_include_directories(cuda_emu
  PUBLIC $<BUILD_INTERFACE:${CUDA_EMU_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/minidl/cuda_emu>)
target_compile_options(cuda_emu PRIVATE -Wall -Wextra -O2 -g)
set_target_properties(cuda_emu PROPERTIES POSITION_INDEPENDENT_CODE ON)
install(TARGETS cuda_emu EXPORT minidlTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

function(cuda_emu_translate sources_var)
  cmake_parse_arguments(arg "HEADERS" "" "" ${ARGN})
  set(result)
  set(translate ${CUDA_EMU_DIR}/translate.py)
  foreach(src IN LISTS ${sources_var})
    if(NOT src MATCHES "\\.cu$")
      list(APPEND result ${src})
      continue()
    endif()
    get_filename_component(abs ${src} ABSOLUTE BASE_DIR ${CMAKE_SOURCE_DIR})
    file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR} ${abs})
    set(out ${CUDA_EMU_GEN}/src/${rel}.cpp)
    add_custom_command(OUTPUT ${out}
      COMMAND ${Python3_EXECUTABLE} ${translate} ${abs} ${out}
      DEPENDS ${abs} ${translate} COMMENT "cuda_emu: translating ${rel}" VERBATIM)
    set_source_files_properties(${out} PROPERTIES COMPILE_OPTIONS "${CUDA_EMU_KERNEL_FLAGS}")
    list(APPEND result ${out})
  endforeach()
  # Headers with launches or __shared__ (gemm_tile.cuh): translated copies under the same
  # <minidl/...> names, found first (cuda_emu_configure_target).
  set(headers)
  if(arg_HEADERS)
    file(GLOB_RECURSE headers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/kernels/*.cuh)
  endif()
  foreach(h IN LISTS headers)
    file(RELATIVE_PATH rel ${CMAKE_SOURCE_DIR} ${h})
    set(out ${CUDA_EMU_GEN}/include/minidl/${rel})
    add_custom_command(OUTPUT ${out}
      COMMAND ${Python3_EXECUTABLE} ${translate} ${h} ${out}
      DEPENDS ${h} ${translate} COMMENT "cuda_emu: translating ${rel}" VERBATIM)
    list(APPEND result ${out})
  endforeach()
  set(${sources_var} ${result} PARENT_SCOPE)
endfunction()

function(cuda_emu_configure_target target)
  target_include_directories(${target} BEFORE PRIVATE ${CUDA_EMU_GEN}/include)
  target_link_libraries(${target} PUBLIC cuda_emu)
endfunction()
