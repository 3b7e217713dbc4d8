# Decides whether the CUDA backend (and cuDNN inside it) is built, from MINIDL_CUDA and
# MINIDL_CUDNN (AUTO|ON|OFF). Sets MINIDL_WITH_CUDA / MINIDL_WITH_CUDNN (and their 0/1
# spellings for config.h) and defines minidl_configure_cuda_target().
# MINIDL_CUDA_EMU=ON builds the CUDA backend for the CPU emulator of tools/cuda_emu instead of
# nvcc, with the emulator's own cuBLAS and cuDNN (include/cudnn.h there): the test bench for
# machines without a GPU. MINIDL_CUDNN=OFF leaves cuDNN out of it too.
include(CheckLanguage)

set(MINIDL_WITH_CUDA OFF)
set(MINIDL_WITH_CUDNN OFF)
if(MINIDL_CUDA_EMU)
  set(MINIDL_WITH_CUDA ON)
  # The emulated cuDNN is part of the cuda_emu target: nothing to find.
  if(NOT MINIDL_CUDNN STREQUAL "OFF")
    set(MINIDL_WITH_CUDNN ON)
    set(MINIDL_CUDNN_FROM "the CUDA emulator (tools/cuda_emu)")
  endif()
  include(${CMAKE_SOURCE_DIR}/tools/cuda_emu/CudaEmu.cmake)
elseif(NOT MINIDL_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(MINIDL_WITH_CUDA ON)
  elseif(MINIDL_CUDA STREQUAL "ON")
    message(FATAL_ERROR "MINIDL_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
endif()

if(MINIDL_WITH_CUDA AND NOT MINIDL_CUDA_EMU)
  # sm_90 (Hopper, the H200) first; sm_80 kept building.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 90 80)
  endif()
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  enable_language(CUDA)
  # CMake 3.25.0 and 3.25.1 (Debian 12's) set a property on CUDA::nvToolsExt whenever the project
  # asks for CMake >= 3.25, even when the toolkit has no such library, which CUDA 13 does not
  # (fixed in 3.25.2): a stock Debian 12 machine could not configure. Let that check see a lower
  # minimum; it only decides whether to attach a deprecation note.
  set(_minidl_min_version ${CMAKE_MINIMUM_REQUIRED_VERSION})
  if(CMAKE_VERSION VERSION_LESS 3.25.2)
    set(CMAKE_MINIMUM_REQUIRED_VERSION 3.24)
  endif()
  find_package(CUDAToolkit REQUIRED)
  set(CMAKE_MINIMUM_REQUIRED_VERSION ${_minidl_min_version})

  if(NOT MINIDL_CUDNN STREQUAL "OFF")
    # The nvidia-cudnn-cu13 pip wheel (site-packages/nvidia/cudnn) is where cuDNN is on GPU images
    # built around PyTorch.
    include(${CMAKE_CURRENT_LIST_DIR}/MinidlNvidiaWheel.cmake)
    minidl_find_nvidia_library(cudnn cudnn.h libcudnn.so.9)
    if(MINIDL_CUDNN_INCLUDE AND MINIDL_CUDNN_LIBRARY)
      set(MINIDL_WITH_CUDNN ON)
    elseif(MINIDL_CUDNN STREQUAL "ON")
      message(FATAL_ERROR "MINIDL_CUDNN=ON but cudnn.h / libcudnn were not found in MINIDL_CUDNN_ROOT, CUDNN_ROOT, "
                          "the CUDA toolkit, the system, or a python3's site-packages/nvidia/cudnn "
                          "(set MINIDL_CUDNN_ROOT, or MINIDL_PYTHON to the interpreter that has the wheel)")
    endif()
  endif()
endif()

function(minidl_configure_cuda_target target)
  if(NOT MINIDL_WITH_CUDA)
    return()
  endif()
  if(MINIDL_CUDA_EMU)
    cuda_emu_configure_target(${target})
    return()
  endif()
  set_target_properties(${target} PROPERTIES CUDA_SEPARABLE_COMPILATION OFF)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcompiler=-Wall,-Wextra>)
  target_link_libraries(${target} PRIVATE CUDA::cudart CUDA::cublas)
  if(MINIDL_WITH_CUDNN)
    target_include_directories(${target} PRIVATE ${MINIDL_CUDNN_INCLUDE})
    target_link_libraries(${target} PRIVATE ${MINIDL_CUDNN_LIBRARY})
  endif()
endfunction()
