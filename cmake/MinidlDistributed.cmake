# Decides whether data-parallel training is built, from MINIDL_MPI and MINIDL_NCCL (AUTO|ON|OFF):
# MPI (launching, bootstrap, collectives on CPU tensors) and NCCL (collectives on GPU tensors; it
# needs the CUDA backend, and MPI to bootstrap more than one process: without MPI, only its
# world-of-one test runs, as on the GPU machine, whose image has no MPI). Sets MINIDL_WITH_MPI /
# MINIDL_WITH_NCCL (and their 0/1 spellings for config.h) and defines
# minidl_configure_distributed_target(). Include after MinidlCuda.cmake.
set(MINIDL_MPI "AUTO" CACHE STRING "Data-parallel training over MPI: AUTO (when an MPI is found), ON or OFF")
set_property(CACHE MINIDL_MPI PROPERTY STRINGS AUTO ON OFF)
set(MINIDL_NCCL "AUTO" CACHE STRING "NCCL collectives for GPU tensors: AUTO (with CUDA, when NCCL is found), ON or OFF")
set_property(CACHE MINIDL_NCCL PROPERTY STRINGS AUTO ON OFF)
set(MINIDL_NCCL_ROOT "" CACHE PATH "Where NCCL lives if not under the CUDA toolkit (e.g. site-packages/nvidia/nccl)")

set(MINIDL_WITH_MPI OFF)
set(MINIDL_WITH_NCCL OFF)
if(NOT MINIDL_MPI STREQUAL "OFF")
  # Only the C bindings: MPI's C++ bindings are deprecated and Debian's OpenMPI does not need them.
  find_package(MPI COMPONENTS C QUIET)
  if(MPI_C_FOUND)
    set(MINIDL_WITH_MPI ON)
  elseif(MINIDL_MPI STREQUAL "ON")
    message(FATAL_ERROR "MINIDL_MPI=ON but no MPI was found: run scripts/install-deps.sh (openmpi-bin, libopenmpi-dev), "
                        "or configure with -DMINIDL_MPI=AUTO or OFF")
  endif()
endif()

if(NOT MINIDL_NCCL STREQUAL "OFF")
  if(MINIDL_WITH_CUDA AND NOT MINIDL_CUDA_EMU)  # the emulator has no NCCL
    # The toolkit and the system first, then the nvidia-nccl-cu13 pip wheel (site-packages/nvidia/nccl),
    # found the way scripts/gpu-check.sh's preflight finds it.
    include(${CMAKE_CURRENT_LIST_DIR}/MinidlNvidiaWheel.cmake)
    minidl_find_nvidia_library(nccl nccl.h libnccl.so.2)
    if(MINIDL_NCCL_INCLUDE AND MINIDL_NCCL_LIBRARY)
      set(MINIDL_WITH_NCCL ON)
    endif()
  endif()
  if(NOT MINIDL_WITH_NCCL AND MINIDL_NCCL STREQUAL "ON")
    message(FATAL_ERROR "MINIDL_NCCL=ON needs the CUDA backend (${MINIDL_WITH_CUDA}) and "
                        "nccl.h / libnccl in MINIDL_NCCL_ROOT, NCCL_ROOT, the CUDA toolkit, the system or a python3's "
                        "site-packages/nvidia/nccl (set MINIDL_NCCL_ROOT, or MINIDL_PYTHON to the interpreter with the wheel)")
  endif()
endif()


# Where mpirun is, for the tests that launch ranks (tests/distributed).
if(MINIDL_WITH_MPI AND NOT MPIEXEC_EXECUTABLE)
  find_program(MPIEXEC_EXECUTABLE NAMES mpirun mpiexec)
endif()

function(minidl_configure_distributed_target target)
  if(MINIDL_WITH_MPI)
    # Built with MPI's imported target; an installed (static) minidl names MPI's library files
    # instead, so that a consumer needs neither find_package(MPI) nor the C language enabled.
    target_link_libraries(${target} PRIVATE $<BUILD_INTERFACE:MPI::MPI_C>)
    foreach(_lib ${MPI_C_LIBRARIES})
      target_link_libraries(${target} PRIVATE $<INSTALL_INTERFACE:${_lib}>)
    endforeach()
  endif()
  if(MINIDL_WITH_NCCL)
    target_include_directories(${target} PRIVATE ${MINIDL_NCCL_INCLUDE})
    target_link_libraries(${target} PRIVATE ${MINIDL_NCCL_LIBRARY})
  endif()
endfunction()
