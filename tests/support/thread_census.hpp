// Counting the threads of this process, for tests that check which threads a component starts
// and stops. A joined thread can stay listed in /proc for a moment after it has returned, so a
// test compares counts through settled_*() baselines and eventually().
#pragma once

#include <cstddef>
#include <string>

namespace pyrate::testing {

// The threads of this process, read from /proc/self/task.
std::size_t thread_count();

// The threads of this process named `name`, read from /proc/self/task/*/comm.
std::size_t threads_named(const std::string& name);

// thread_count() once threads that earlier tests left ending have gone: the same count read
// twice 20 ms apart (for at most 2 s), so that a baseline is not taken mid-exit.
std::size_t settled_thread_count();

// threads_named(name), settled in the same way.
std::size_t settled_threads_named(const std::string& name);

}  // namespace pyrate::testing
