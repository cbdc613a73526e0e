#include "support/thread_census.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

namespace pyrate::testing {
namespace {

std::size_t settled(const std::function<std::size_t()>& count_now) {
  std::size_t count = count_now();
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::size_t again = count_now();
    if (again == count) break;
    count = again;
  }
  return count;
}

}  // namespace

std::size_t thread_count() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    ++count;
  }
  return count;
}

std::size_t threads_named(const std::string& name) {
  std::size_t found = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    if (std::getline(comm, line) && line == name) ++found;
  }
  return found;
}

std::size_t settled_thread_count() { return settled(thread_count); }

std::size_t settled_threads_named(const std::string& name) {
  return settled([&] { return threads_named(name); });
}

}  // namespace pyrate::testing
