// Internal to core/distributed: the process groups behind dist::world(). Not installed.
#pragma once

#include <memory>

#include "minidl/core/distributed.h"

namespace minidl::dist::backend {

// One process, no MPI: collectives leave tensors as they are.
std::unique_ptr<ProcessGroup> make_single_process_group();

// MPI_COMM_WORLD (MPI_Init_thread first); CPU tensors through MPI on a communication thread, GPU
// tensors through NCCL when built with it. Defined in builds with MINIDL_WITH_MPI only.
std::unique_ptr<ProcessGroup> make_mpi_group();
// MPI_Finalize after the group is gone (no-op if MPI was never started).
void finalize_mpi();

}  // namespace minidl::dist::backend
