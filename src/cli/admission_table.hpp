// The demo's table: admissions per second, per worker and in total.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "demo_workers.hpp"

namespace pyrate::cli {

// Rows of one run, one per second since the run's start, by the admissions' recorded
// timestamps. On a terminal (`live`) the current row is redrawn in place as admissions
// arrive; otherwise each row is printed once complete.
class AdmissionTable {
 public:
  // Prints the header. Workers are numbered `first_worker` to first_worker + workers - 1;
  // `start` is the run's start (Unix ms); the run lasts `seconds`.
  AdmissionTable(std::ostream& out, bool live, int first_worker, int workers, Millis start,
                 int seconds);

  void add(const Admission& admission);

  // Prints the rows whose second ended a moment before `now` (Unix ms; reports may lag a
  // little); when live, redraws the current one.
  void refresh(Millis now);

  // Prints the remaining rows: at least the run's seconds, and any second that holds an
  // admission.
  void finish();

  // Ends the table at the rows printed so far, for a run that stopped early.
  void cut_short();

 private:
  std::vector<std::int64_t>& row(std::size_t index);
  std::string format_row(std::size_t index);

  std::ostream& out_;
  bool live_;
  int first_worker_;
  int workers_;
  Millis start_;
  int seconds_;
  std::vector<std::vector<std::int64_t>> rows_;
  std::size_t printed_ = 0;
  std::string drawn_;  // the current row as last drawn, when live
};

}  // namespace pyrate::cli
