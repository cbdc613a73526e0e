// A pool of worker processes sharing one limit: the parent forks N workers that each open the
// same SQLite file with multiprocess = true and call a (pretend) API as fast as the limit lets
// them. Together they never exceed 10 calls in any 1-second window, however the calls fall
// between them. The parent prints, second by second, which worker got how many calls.
//
// Usage: worker_pool [WORKERS] [SECONDS]   (default 4 workers for 3 seconds)
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <pyrate/pyrate.hpp>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::int64_t kCallsPerSecond = 10;

// What a worker tells the parent about each call it made.
struct Call {
  int worker;
  std::int64_t at_ms;  // since the pool started
};

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Calls the pretend API until `end_ms`, waiting for the shared limit before each call, and
// reports each call on `report_fd`.
int work(int worker, const std::string& db_path, std::int64_t start_ms, std::int64_t end_ms,
         int report_fd) {
  pyrate::SQLiteOptions options;
  options.db_path = db_path;
  options.bucket = "api";
  options.multiprocess = true;
  auto bucket = std::make_shared<pyrate::SQLiteBucket>(
      std::vector<pyrate::Rate>{pyrate::Rate(kCallsPerSecond, pyrate::Duration::Second)}, options);
  pyrate::Limiter limiter(bucket);

  pyrate::AcquireOptions wait_for_room;
  while (true) {
    const std::int64_t left_ms = end_ms - steady_ms();
    if (left_ms <= 0) return 0;
    wait_for_room.timeout = std::chrono::milliseconds(left_ms);
    if (!limiter.try_acquire("call", wait_for_room)) return 0;  // time is up
    const Call call{worker, steady_ms() - start_ms};
    if (write(report_fd, &call, sizeof call) != static_cast<ssize_t>(sizeof call)) return 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the call itself
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int workers = argc > 1 ? std::atoi(argv[1]) : 4;
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 3;
  if (workers < 1 || workers > 64 || seconds < 1 || seconds > 60) {
    std::fprintf(stderr, "usage: %s [WORKERS 1-64] [SECONDS 1-60]\n", argv[0]);
    return 2;
  }

  std::string dir_template =
      (std::filesystem::temp_directory_path() / "pyrate-worker-pool-XXXXXX").string();
  if (mkdtemp(dir_template.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::filesystem::path dir = dir_template;
  const std::string db_path = (dir / "limits.db").string();
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) {
    std::perror("pipe");
    return 1;
  }

  std::printf("%d workers share %lld calls per second through %s\n\n", workers,
              static_cast<long long>(kCallsPerSecond), db_path.c_str());
  std::fflush(stdout);
  const std::int64_t start_ms = steady_ms();
  std::vector<pid_t> children;
  for (int worker = 0; worker < workers; ++worker) {
    const pid_t pid = fork();
    if (pid < 0) {
      std::perror("fork");
      return 1;
    }
    if (pid == 0) {
      close(pipe_fds[0]);
      int code = 1;
      try {
        code = work(worker, db_path, start_ms, start_ms + seconds * 1000, pipe_fds[1]);
      } catch (const std::exception& error) {
        std::fprintf(stderr, "worker %d: %s\n", worker, error.what());
      }
      _exit(code);
    }
    children.push_back(pid);
  }
  close(pipe_fds[1]);

  // calls[second][worker]
  std::map<std::int64_t, std::map<int, int>> calls;
  Call call{};
  while (read(pipe_fds[0], &call, sizeof call) == static_cast<ssize_t>(sizeof call)) {
    ++calls[call.at_ms / 1000][call.worker];
  }
  bool all_ok = true;
  for (const pid_t child : children) {
    int status = 0;
    waitpid(child, &status, 0);
    all_ok = all_ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  std::printf("second");
  for (int worker = 0; worker < workers; ++worker) std::printf("  worker %d", worker);
  std::printf("  total\n");
  std::map<int, int> per_worker;
  int total = 0;
  for (const auto& [second, by_worker] : calls) {
    std::printf("%6lld", static_cast<long long>(second));
    int in_second = 0;
    for (int worker = 0; worker < workers; ++worker) {
      const auto found = by_worker.find(worker);
      const int count = found == by_worker.end() ? 0 : found->second;
      std::printf("  %8d", count);
      in_second += count;
      per_worker[worker] += count;
    }
    std::printf("  %5d\n", in_second);
    total += in_second;
  }
  std::printf("%6s", "all");
  for (int worker = 0; worker < workers; ++worker) std::printf("  %8d", per_worker[worker]);
  std::printf("  %5d\n", total);

  if (std::filesystem::exists(db_path)) pyrate::InterprocessLock::remove(db_path);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return all_ok ? 0 : 1;
}
