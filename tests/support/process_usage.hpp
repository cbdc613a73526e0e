// What this process uses, as the kernel counts it: for tests and benches that watch memory
// and file descriptors.
#pragma once

#include <cstdint>

namespace pyrate::testing {

// Resident set size, in bytes (from /proc/self/statm).
std::int64_t resident_bytes();

// File descriptors open (from /proc/self/fd).
int open_file_descriptors();

}  // namespace pyrate::testing
